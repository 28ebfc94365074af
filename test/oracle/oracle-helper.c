/*
 * oracle-helper: runs INSIDE the throwaway QEMU guest (static binary in the
 * initramfs). One invocation = one mount attempt of one image region of a
 * virtio disk, judged by the real guest kernel:
 *
 *   oracle-helper DISK OFFSET SIZE PART FSTYPE ro|rw MOUNTPOINT
 *
 * 1. binds a loop device to DISK at OFFSET with sizelimit SIZE
 *    (LOOP_CONFIGURE, with LO_FLAGS_PARTSCAN when PART > 0);
 * 2. when PART > 0: reports the partitions the kernel found and picks
 *    loopNpPART ("NOPART" when the kernel created none);
 * 3. mount(2) with MS_RDONLY for "ro", flags 0 for "rw";
 * 4. on success: reports the options the kernel shows in /proc/mounts; for "rw"
 *    also a small write probe (create+write+fsync+unlink) and the options again
 *    afterwards (errors=remount-ro can flip it);
 * 5. umount, detach.
 * Prints one line of space-separated key=value tokens on stdout.
 * Built by kernel-verdicts.mjs with: gcc -static -O2 -o oracle-helper oracle-helper.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *ename(int e) {
  const char *n = strerrorname_np(e);
  return n ? n : "E?";
}

static void mount_opts(const char *mnt, char *out, size_t n) {
  FILE *f = fopen("/proc/mounts", "r");
  char line[1024], dev[256], mp[256], type[64], opts[512];
  snprintf(out, n, "?");
  if (!f) return;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "%255s %255s %63s %511s", dev, mp, type, opts) == 4 && strcmp(mp, mnt) == 0)
      snprintf(out, n, "%s", opts);
  fclose(f);
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage\n");
    return 2;
  }
  const char *disk = argv[1];
  unsigned long long off = strtoull(argv[2], 0, 10), size = strtoull(argv[3], 0, 10);
  int part = atoi(argv[4]);
  const char *fstype = argv[5];
  int ro = strcmp(argv[6], "ro") == 0;
  const char *mnt = argv[7];

  int ctl = open("/dev/loop-control", O_RDWR);
  if (ctl < 0) {
    printf("result=ERR errno=%d name=%s stage=loop-control\n", errno, ename(errno));
    return 0;
  }
  int n = ioctl(ctl, LOOP_CTL_GET_FREE);
  char loopdev[64];
  snprintf(loopdev, sizeof loopdev, "/dev/loop%d", n);
  int lfd = -1;
  for (int i = 0; i < 200 && lfd < 0; i++) {
    lfd = open(loopdev, O_RDWR);
    if (lfd < 0) usleep(10000);
  }
  int dfd = open(disk, O_RDWR);
  if (lfd < 0 || dfd < 0) {
    printf("result=ERR errno=%d name=%s stage=open\n", errno, ename(errno));
    return 0;
  }
  struct loop_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.fd = dfd;
  cfg.info.lo_offset = off;
  cfg.info.lo_sizelimit = size;
  cfg.info.lo_flags = part > 0 ? LO_FLAGS_PARTSCAN : 0;
  if (ioctl(lfd, LOOP_CONFIGURE, &cfg) < 0) {
    printf("result=ERR errno=%d name=%s stage=loop-configure\n", errno, ename(errno));
    return 0;
  }
  close(dfd);
  printf("loop=%s", loopdev);

  char dev[80];
  snprintf(dev, sizeof dev, "%s", loopdev);
  if (part > 0) {
    /* what partitions did the kernel create? (sysfs is synchronous; the devtmpfs node may lag) */
    char sys[128], parts[1024] = "";
    snprintf(sys, sizeof sys, "/sys/block/loop%d", n);
    DIR *d = opendir(sys);
    struct dirent *de;
    int found = 0;
    char want[64];
    snprintf(want, sizeof want, "loop%dp%d", n, part);
    while (d && (de = readdir(d))) {
      char pre[32];
      snprintf(pre, sizeof pre, "loop%dp", n);
      if (strncmp(de->d_name, pre, strlen(pre)) == 0) {
        char p[256], buf[64] = "", sz[64] = "";
        FILE *f;
        snprintf(p, sizeof p, "%s/%s/start", sys, de->d_name);
        if ((f = fopen(p, "r"))) {
          if (fgets(buf, sizeof buf, f)) buf[strcspn(buf, "\n")] = 0;
          fclose(f);
        }
        snprintf(p, sizeof p, "%s/%s/size", sys, de->d_name);
        if ((f = fopen(p, "r"))) {
          if (fgets(sz, sizeof sz, f)) sz[strcspn(sz, "\n")] = 0;
          fclose(f);
        }
        char item[128];
        snprintf(item, sizeof item, "%s%s:%s:%s", parts[0] ? "," : "", de->d_name + strlen(pre) - 1, buf, sz);
        strncat(parts, item, sizeof parts - strlen(parts) - 1);
        if (strcmp(de->d_name, want) == 0) found = 1;
      }
    }
    if (d) closedir(d);
    printf(" parts=%s", parts[0] ? parts : "none");
    if (!found) {
      printf(" result=ERR errno=0 name=NOPART\n");
      ioctl(lfd, LOOP_CLR_FD, 0);
      return 0;
    }
    snprintf(dev, sizeof dev, "/dev/%s", want);
    struct stat st;
    for (int i = 0; i < 300 && stat(dev, &st) < 0; i++) usleep(10000);
  }
  fflush(stdout);

  if (mount(dev, mnt, fstype, ro ? MS_RDONLY : 0, NULL) < 0) {
    int e = errno;
    printf(" result=ERR errno=%d name=%s\n", e, ename(e));
  } else {
    char opts[512];
    mount_opts(mnt, opts, sizeof opts);
    printf(" result=OK opts=%s", opts);
    if (!ro) {
      char f[300];
      snprintf(f, sizeof f, "%s/.oracle-probe", mnt);
      int fd = open(f, O_CREAT | O_WRONLY | O_TRUNC, 0600);
      int e = 0;
      if (fd < 0)
        e = errno;
      else {
        char buf[4096];
        memset(buf, 0x5a, sizeof buf);
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) e = errno ? errno : EIO;
        if (!e && fsync(fd) < 0) e = errno;
        close(fd);
        if (!e && unlink(f) < 0) e = errno;
        if (!e) {
          int m = open(mnt, O_RDONLY);
          if (m >= 0) {
            if (syncfs(m) < 0) e = errno;
            close(m);
          }
        }
      }
      printf(" probe=%s", e ? ename(e) : "OK");
      mount_opts(mnt, opts, sizeof opts);
      printf(" opts_after=%s", opts);
    }
    if (umount2(mnt, 0) < 0) {
      printf(" umount=%s", ename(errno));
      umount2(mnt, MNT_DETACH);
    }
    printf("\n");
  }
  fflush(stdout);
  if (part > 0) { /* drop partitions before detaching */
  }
  ioctl(lfd, LOOP_CLR_FD, 0);
  close(lfd);
  return 0;
}
