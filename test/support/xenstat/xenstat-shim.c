/*
 * xenstat-shim: LD_PRELOAD library that lets the real libxenstat (Xen 4.17)
 * run on a machine without a hypervisor, for tests.
 *
 * libxenstat gets its data from three places:
 *   1. the hypervisor, through libxenctrl: xc_interface_open, xc_physinfo,
 *      xc_domain_getinfolist, xc_vcpu_getinfo, xc_version, xc_interface_close.
 *      Those six are replaced here and answered from a text "domain table"
 *      (env VMBF_XENSTAT_DOMAINS). Replacing them at the xc_* level means
 *      libxencall never opens /dev/xen/privcmd, so nothing below needs faking.
 *   2. xenstore (domain names, qdisk backends): untouched; point
 *      XENSTORED_PATH at a test daemon.
 *   3. sysfs, for blkback counters: the path /sys/bus/xen-backend/devices is
 *      compiled into libxenstat, which uses opendir + open on it. Paths
 *      below it are redirected to the directory in env VMBF_XENSTAT_SYSFS
 *      by opendir, open, open64, openat and fopen (not stat/access/statx).
 *
 * Without VMBF_XENSTAT_DOMAINS every call goes to the real libxenctrl, so a
 * process that merely inherits LD_PRELOAD behaves as it would without it.
 *
 * Domain table format (re-read whenever the file changes; replace it with
 * rename() so a reader never sees half a file):
 *   # comment
 *   node total_kib=N free_kib=N cpus=N cpu_khz=N xen_version=4.17.7-fake
 *   dom <domid> <state> <mem_kib> <maxmem_kib|unlimited> <vcpus> <cpu_ns> [ssid=N] [online_vcpus=N]
 *   fail <call> [errno]
 * state: "-" or a comma list of running, blocked, paused, dying, hvm,
 *   crashed (= shutdown:crash), shutdown:<reason>; reason is poweroff,
 *   reboot, suspend, crash, watchdog, soft_reset or a number.
 * fail: makes <call> (interface_open, physinfo, getinfolist, vcpu_getinfo,
 *   version) return an error with errno (a number or EPERM, EACCES, ENOENT,
 *   ESRCH, EINVAL, ENOMEM, EIO, EAGAIN, EBUSY; default EPERM).
 * Memory is in KiB and must be a multiple of the page size.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xenctrl.h>

#define SHIM "vmbf-xenstat-shim"
#define ENV_DOMAINS "VMBF_XENSTAT_DOMAINS"
#define ENV_SYSFS "VMBF_XENSTAT_SYSFS"
#define SYSFS_VBD_PATH "/sys/bus/xen-backend/devices"
#define MAX_DOMAINS 4096

enum fail_call {
  FAIL_INTERFACE_OPEN,
  FAIL_PHYSINFO,
  FAIL_GETINFOLIST,
  FAIL_VCPU_GETINFO,
  FAIL_VERSION,
  FAIL_COUNT
};
static const char *const fail_names[FAIL_COUNT] = {
    "interface_open", "physinfo", "getinfolist", "vcpu_getinfo", "version",
};

struct fake_domain {
  uint32_t domid;
  uint32_t flags;
  uint64_t tot_pages;
  uint64_t max_pages;
  uint32_t vcpus;
  uint32_t online_vcpus;
  uint64_t cpu_ns;
  uint32_t ssid;
};

struct fake_host {
  uint64_t total_pages;
  uint64_t free_pages;
  uint32_t cpus;
  uint32_t cpu_khz;
  int ver_major, ver_minor;
  char extraversion[XEN_EXTRAVERSION_LEN];
  int fail_errno[FAIL_COUNT]; /* 0 = do not fail */
  unsigned int num_domains;
  struct fake_domain domains[MAX_DOMAINS]; /* sorted by domid */
};

/* One parsed copy of the table, replaced when the file's identity changes. */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fake_host *table;
static struct stat table_stat;

/* Handle handed to libxenstat; only its address matters. */
static char fake_handle_storage;
#define FAKE_HANDLE ((xc_interface *)&fake_handle_storage)

static long page_kib(void) {
  return sysconf(_SC_PAGE_SIZE) / 1024;
}

static void *real_symbol(const char *name) {
  void *sym = dlsym(RTLD_NEXT, name);
  if (sym == NULL) {
    fprintf(stderr, SHIM ": no real %s: %s\n", name, dlerror());
    abort();
  }
  return sym;
}

/* ---------------------------------------------------------------- table */

static int parse_errno(const char *s) {
  static const struct {
    const char *name;
    int value;
  } names[] = {
      {"EPERM", EPERM},   {"EACCES", EACCES}, {"ENOENT", ENOENT}, {"ESRCH", ESRCH}, {"EINVAL", EINVAL},
      {"ENOMEM", ENOMEM}, {"EIO", EIO},       {"EAGAIN", EAGAIN}, {"EBUSY", EBUSY},
  };
  char *end;
  long n;
  size_t i;

  if (s == NULL) return EPERM;
  for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (strcmp(s, names[i].name) == 0) return names[i].value;
  n = strtol(s, &end, 10);
  return (*end == '\0' && n > 0) ? (int)n : -1;
}

static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  if (s == NULL || *s < '0' || *s > '9') return -1;
  errno = 0;
  *out = strtoull(s, &end, 10);
  return (*end == '\0' && errno == 0) ? 0 : -1;
}

static int parse_kib_as_pages(const char *s, uint64_t *pages) {
  uint64_t kib;
  if (parse_u64(s, &kib) < 0 || kib % page_kib() != 0) return -1;
  *pages = kib / page_kib();
  return 0;
}

static int parse_shutdown_reason(const char *s, uint32_t *reason) {
  static const char *const reasons[] = {
      "poweroff", "reboot", "suspend", "crash", "watchdog", "soft_reset",
  };
  uint64_t n;
  size_t i;

  for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
    if (strcmp(s, reasons[i]) == 0) {
      *reason = (uint32_t)i;
      return 0;
    }
  if (parse_u64(s, &n) < 0 || n > XEN_DOMINF_shutdownmask) return -1;
  *reason = (uint32_t)n;
  return 0;
}

static int parse_state(char *s, uint32_t *flags) {
  char *save = NULL, *tok;
  uint32_t reason;

  *flags = 0;
  if (strcmp(s, "-") == 0) return 0;
  for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (strcmp(tok, "running") == 0)
      *flags |= XEN_DOMINF_running;
    else if (strcmp(tok, "blocked") == 0)
      *flags |= XEN_DOMINF_blocked;
    else if (strcmp(tok, "paused") == 0)
      *flags |= XEN_DOMINF_paused;
    else if (strcmp(tok, "dying") == 0)
      *flags |= XEN_DOMINF_dying;
    else if (strcmp(tok, "hvm") == 0)
      *flags |= XEN_DOMINF_hvm_guest;
    else if (strcmp(tok, "crashed") == 0)
      *flags |= XEN_DOMINF_shutdown | (3u << XEN_DOMINF_shutdownshift);
    else if (strncmp(tok, "shutdown:", 9) == 0 && parse_shutdown_reason(tok + 9, &reason) == 0)
      *flags |= XEN_DOMINF_shutdown | (reason << XEN_DOMINF_shutdownshift);
    else
      return -1;
  }
  return 0;
}

static int parse_node_line(struct fake_host *h, char *save) {
  char *tok;
  while ((tok = strtok_r(NULL, " \t", &save)) != NULL) {
    char *eq = strchr(tok, '=');
    uint64_t n;
    if (eq == NULL) return -1;
    *eq++ = '\0';
    if (strcmp(tok, "total_kib") == 0) {
      if (parse_kib_as_pages(eq, &h->total_pages) < 0) return -1;
    } else if (strcmp(tok, "free_kib") == 0) {
      if (parse_kib_as_pages(eq, &h->free_pages) < 0) return -1;
    } else if (strcmp(tok, "cpus") == 0) {
      if (parse_u64(eq, &n) < 0 || n == 0 || n > UINT32_MAX) return -1;
      h->cpus = (uint32_t)n;
    } else if (strcmp(tok, "cpu_khz") == 0) {
      if (parse_u64(eq, &n) < 0 || n > UINT32_MAX) return -1;
      h->cpu_khz = (uint32_t)n;
    } else if (strcmp(tok, "xen_version") == 0) {
      int used = 0;
      if (sscanf(eq, "%d.%d%n", &h->ver_major, &h->ver_minor, &used) != 2 ||
          strlen(eq + used) >= sizeof(h->extraversion))
        return -1;
      strcpy(h->extraversion, eq + used);
    } else {
      return -1;
    }
  }
  return 0;
}

static int parse_dom_line(struct fake_host *h, char *save) {
  char *fields[6];
  char *tok;
  struct fake_domain d = {0};
  uint64_t n;
  int i;

  for (i = 0; i < 6; i++)
    if ((fields[i] = strtok_r(NULL, " \t", &save)) == NULL) return -1;
  if (parse_u64(fields[0], &n) < 0 || n >= DOMID_FIRST_RESERVED) return -1;
  d.domid = (uint32_t)n;
  if (parse_state(fields[1], &d.flags) < 0 || parse_kib_as_pages(fields[2], &d.tot_pages) < 0) return -1;
  if (strcmp(fields[3], "unlimited") == 0)
    d.max_pages = UINT_MAX; /* libxenstat's "no limit" marker */
  else if (parse_kib_as_pages(fields[3], &d.max_pages) < 0)
    return -1;
  if (parse_u64(fields[4], &n) < 0 || n > 4096) return -1;
  d.vcpus = d.online_vcpus = (uint32_t)n;
  if (parse_u64(fields[5], &d.cpu_ns) < 0) return -1;
  while ((tok = strtok_r(NULL, " \t", &save)) != NULL) {
    if (strncmp(tok, "ssid=", 5) == 0 && parse_u64(tok + 5, &n) == 0)
      d.ssid = (uint32_t)n;
    else if (strncmp(tok, "online_vcpus=", 13) == 0 && parse_u64(tok + 13, &n) == 0 && n <= d.vcpus)
      d.online_vcpus = (uint32_t)n;
    else
      return -1;
  }
  if (h->num_domains >= MAX_DOMAINS) return -1;
  /* keep sorted by domid, as the hypervisor returns them; reject duplicates */
  for (i = (int)h->num_domains; i > 0 && h->domains[i - 1].domid >= d.domid; i--) {
    if (h->domains[i - 1].domid == d.domid) return -1;
    h->domains[i] = h->domains[i - 1];
  }
  h->domains[i] = d;
  h->num_domains++;
  return 0;
}

static int parse_fail_line(struct fake_host *h, char *save) {
  char *call = strtok_r(NULL, " \t", &save);
  int err = parse_errno(strtok_r(NULL, " \t", &save));
  int i;

  if (call == NULL || err < 0) return -1;
  for (i = 0; i < FAIL_COUNT; i++)
    if (strcmp(call, fail_names[i]) == 0) {
      h->fail_errno[i] = err;
      return 0;
    }
  return -1;
}

static struct fake_host *parse_table(const char *path, FILE *f) {
  struct fake_host *h = calloc(1, sizeof(*h));
  char line[512];
  int lineno = 0;

  if (h == NULL) return NULL;
  /* a modest default host, so a table may hold only "dom" lines */
  h->total_pages = 16ull * 1024 * 1024 / page_kib();
  h->free_pages = 8ull * 1024 * 1024 / page_kib();
  h->cpus = 4;
  h->cpu_khz = 2400000;
  h->ver_major = 4;
  h->ver_minor = 17;
  strcpy(h->extraversion, ".7-fake");

  while (fgets(line, sizeof(line), f) != NULL) {
    char *save = NULL, *kind;
    int rc = 0;

    lineno++;
    line[strcspn(line, "\r\n")] = '\0';
    kind = strtok_r(line, " \t", &save);
    if (kind == NULL || kind[0] == '#') continue;
    if (strcmp(kind, "node") == 0)
      rc = parse_node_line(h, save);
    else if (strcmp(kind, "dom") == 0)
      rc = parse_dom_line(h, save);
    else if (strcmp(kind, "fail") == 0)
      rc = parse_fail_line(h, save);
    else
      rc = -1;
    if (rc < 0) {
      fprintf(stderr, SHIM ": %s:%d: cannot parse this line\n", path, lineno);
      free(h);
      errno = EINVAL;
      return NULL;
    }
  }
  return h;
}

/*
 * Returns the current table with table_lock held (caller unlocks), or NULL
 * with errno set and the lock released. Re-parses only when the file's
 * inode, size or mtime changed.
 */
static struct fake_host *lock_table(void) {
  const char *path = getenv(ENV_DOMAINS);
  struct stat st;
  FILE *f;
  struct fake_host *fresh;

  pthread_mutex_lock(&table_lock);
  if (path == NULL || stat(path, &st) < 0) {
    int err = path ? errno : ENOENT;
    fprintf(stderr, SHIM ": cannot read domain table %s: %s\n", path ? path : "(" ENV_DOMAINS " unset)",
            strerror(err));
    pthread_mutex_unlock(&table_lock);
    errno = err;
    return NULL;
  }
  if (table != NULL && st.st_ino == table_stat.st_ino && st.st_dev == table_stat.st_dev &&
      st.st_size == table_stat.st_size && st.st_mtim.tv_sec == table_stat.st_mtim.tv_sec &&
      st.st_mtim.tv_nsec == table_stat.st_mtim.tv_nsec)
    return table;

  f = fopen(path, "re");
  if (f == NULL) {
    int err = errno;
    fprintf(stderr, SHIM ": cannot open domain table %s: %s\n", path, strerror(err));
    pthread_mutex_unlock(&table_lock);
    errno = err;
    return NULL;
  }
  fresh = parse_table(path, f);
  fclose(f);
  if (fresh == NULL) {
    pthread_mutex_unlock(&table_lock);
    errno = EINVAL;
    return NULL;
  }
  free(table);
  table = fresh;
  table_stat = st;
  return table;
}

/*
 * If the table says `call` fails: releases the table lock, sets errno and
 * returns 1. Otherwise returns 0 with the lock still held.
 */
static int injected_failure(const struct fake_host *h, enum fail_call call) {
  int err = h->fail_errno[call];
  if (err == 0) return 0;
  pthread_mutex_unlock(&table_lock);
  errno = err;
  return 1;
}

static int shim_active(void) {
  return getenv(ENV_DOMAINS) != NULL;
}

/* --------------------------------------------------------------- libxc */

xc_interface *xc_interface_open(xentoollog_logger *logger, xentoollog_logger *dombuild_logger,
                                unsigned open_flags) {
  struct fake_host *h;
  int err;

  if (!shim_active()) {
    xc_interface *(*real)(xentoollog_logger *, xentoollog_logger *, unsigned) =
        real_symbol("xc_interface_open");
    return real(logger, dombuild_logger, open_flags);
  }
  h = lock_table();
  if (h == NULL) return NULL;
  if (injected_failure(h, FAIL_INTERFACE_OPEN)) {
    err = errno;
    /* the line libxencall prints on a host without privcmd */
    fprintf(stderr,
            "xencall: error: Could not obtain handle on privileged "
            "command interface: %s\n",
            strerror(err));
    errno = err;
    return NULL;
  }
  pthread_mutex_unlock(&table_lock);
  return FAKE_HANDLE;
}

int xc_interface_close(xc_interface *xch) {
  if (xch != FAKE_HANDLE) {
    int (*real)(xc_interface *) = real_symbol("xc_interface_close");
    return real(xch);
  }
  return 0;
}

int xc_physinfo(xc_interface *xch, xc_physinfo_t *info) {
  struct fake_host *h;

  if (xch != FAKE_HANDLE) {
    int (*real)(xc_interface *, xc_physinfo_t *) = real_symbol("xc_physinfo");
    return real(xch, info);
  }
  if ((h = lock_table()) == NULL) return -1;
  if (injected_failure(h, FAIL_PHYSINFO)) return -1;
  memset(info, 0, sizeof(*info));
  info->threads_per_core = 1;
  info->cores_per_socket = h->cpus;
  info->nr_cpus = h->cpus;
  info->max_cpu_id = h->cpus - 1;
  info->nr_nodes = 1;
  info->cpu_khz = h->cpu_khz;
  info->total_pages = h->total_pages;
  info->free_pages = h->free_pages;
  info->max_mfn = h->total_pages;
  pthread_mutex_unlock(&table_lock);
  return 0;
}

/* Like the hypervisor: up to max_domains domains with domid >= first_domain,
 * in domid order; 0 past the end. */
int xc_domain_getinfolist(xc_interface *xch, uint32_t first_domain, unsigned int max_domains,
                          xc_domaininfo_t *info) {
  struct fake_host *h;
  unsigned int i, n = 0;

  if (xch != FAKE_HANDLE) {
    int (*real)(xc_interface *, uint32_t, unsigned int, xc_domaininfo_t *) =
        real_symbol("xc_domain_getinfolist");
    return real(xch, first_domain, max_domains, info);
  }
  if ((h = lock_table()) == NULL) return -1;
  if (injected_failure(h, FAIL_GETINFOLIST)) return -1;
  for (i = 0; i < h->num_domains && n < max_domains; i++) {
    const struct fake_domain *d = &h->domains[i];
    xc_domaininfo_t *out;

    if (d->domid < first_domain) continue;
    out = &info[n++];
    memset(out, 0, sizeof(*out));
    out->domain = (domid_t)d->domid;
    out->flags = d->flags;
    out->tot_pages = d->tot_pages;
    out->max_pages = d->max_pages;
    out->cpu_time = d->cpu_ns;
    out->nr_online_vcpus = d->online_vcpus;
    out->max_vcpu_id = d->vcpus ? d->vcpus - 1 : XEN_INVALID_MAX_VCPU_ID;
    out->ssidref = d->ssid;
    /* a stable, recognisable UUID: 00000000-...-<domid> */
    out->handle[14] = (uint8_t)(d->domid >> 8);
    out->handle[15] = (uint8_t)d->domid;
  }
  pthread_mutex_unlock(&table_lock);
  return (int)n;
}

/* Splits the domain's CPU time over its online vCPUs (remainder on vCPU 0),
 * so per-vCPU times add up to the domain's. */
int xc_vcpu_getinfo(xc_interface *xch, uint32_t domid, uint32_t vcpu, xc_vcpuinfo_t *info) {
  struct fake_host *h;
  const struct fake_domain *d = NULL;
  unsigned int i;

  if (xch != FAKE_HANDLE) {
    int (*real)(xc_interface *, uint32_t, uint32_t, xc_vcpuinfo_t *) = real_symbol("xc_vcpu_getinfo");
    return real(xch, domid, vcpu, info);
  }
  if ((h = lock_table()) == NULL) return -1;
  if (injected_failure(h, FAIL_VCPU_GETINFO)) return -1;
  for (i = 0; i < h->num_domains; i++)
    if (h->domains[i].domid == domid) d = &h->domains[i];
  if (d == NULL || vcpu >= d->vcpus) {
    pthread_mutex_unlock(&table_lock);
    errno = d == NULL ? ESRCH : EINVAL;
    return -1;
  }
  memset(info, 0, sizeof(*info));
  info->vcpu = vcpu;
  info->online = vcpu < d->online_vcpus;
  info->running = info->online && (d->flags & XEN_DOMINF_running) != 0;
  info->blocked = info->online && !info->running;
  info->cpu = vcpu % h->cpus;
  if (info->online) {
    info->cpu_time = d->cpu_ns / d->online_vcpus;
    if (vcpu == 0) info->cpu_time += d->cpu_ns % d->online_vcpus;
  }
  pthread_mutex_unlock(&table_lock);
  return 0;
}

int xc_version(xc_interface *xch, int cmd, void *arg) {
  struct fake_host *h;
  int rc = 0;

  if (xch != FAKE_HANDLE) {
    int (*real)(xc_interface *, int, void *) = real_symbol("xc_version");
    return real(xch, cmd, arg);
  }
  if ((h = lock_table()) == NULL) return -1;
  if (injected_failure(h, FAIL_VERSION)) return -1;
  switch (cmd) {
    case XENVER_version:
      rc = (h->ver_major << 16) | (h->ver_minor & 0xffff);
      break;
    case XENVER_extraversion:
      memcpy(arg, h->extraversion, sizeof(xen_extraversion_t));
      break;
    default:
      errno = ENOSYS; /* libxenstat asks for nothing else */
      rc = -1;
  }
  pthread_mutex_unlock(&table_lock);
  return rc;
}

/* --------------------------------------------------------------- sysfs */

/*
 * If path is SYSFS_VBD_PATH or below it and VMBF_XENSTAT_SYSFS is set,
 * writes the redirected path to buf and returns buf; else returns path.
 */
static const char *redirect(const char *path, char *buf, size_t len) {
  static const size_t plen = sizeof(SYSFS_VBD_PATH) - 1;
  const char *root = getenv(ENV_SYSFS);

  if (root == NULL || path == NULL || strncmp(path, SYSFS_VBD_PATH, plen) != 0 ||
      (path[plen] != '\0' && path[plen] != '/'))
    return path;
  if ((size_t)snprintf(buf, len, "%s%s", root, path + plen) >= len)
    return path; /* too long to redirect: let the real path fail */
  return buf;
}

/* open() and friends are variadic: the mode exists only with O_CREAT/O_TMPFILE. */
#define MODE_ARG(flags, mode)              \
  do {                                     \
    if ((flags) & (O_CREAT | O_TMPFILE)) { \
      va_list ap;                          \
      va_start(ap, flags);                 \
      mode = va_arg(ap, mode_t);           \
      va_end(ap);                          \
    }                                      \
  } while (0)

int open(const char *path, int flags, ...) {
  static int (*real)(const char *, int, ...);
  char buf[PATH_MAX];
  mode_t mode = 0;

  MODE_ARG(flags, mode);
  if (real == NULL) real = real_symbol("open");
  return real(redirect(path, buf, sizeof(buf)), flags, mode);
}

int open64(const char *path, int flags, ...) {
  static int (*real)(const char *, int, ...);
  char buf[PATH_MAX];
  mode_t mode = 0;

  MODE_ARG(flags, mode);
  if (real == NULL) real = real_symbol("open64");
  return real(redirect(path, buf, sizeof(buf)), flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...) {
  static int (*real)(int, const char *, int, ...);
  char buf[PATH_MAX];
  mode_t mode = 0;

  MODE_ARG(flags, mode);
  if (real == NULL) real = real_symbol("openat");
  return real(dirfd, redirect(path, buf, sizeof(buf)), flags, mode);
}

FILE *fopen(const char *path, const char *how) {
  static FILE *(*real)(const char *, const char *);
  char buf[PATH_MAX];

  if (real == NULL) real = real_symbol("fopen");
  return real(redirect(path, buf, sizeof(buf)), how);
}

DIR *opendir(const char *path) {
  static DIR *(*real)(const char *);
  char buf[PATH_MAX];

  if (real == NULL) real = real_symbol("opendir");
  return real(redirect(path, buf, sizeof(buf)));
}
