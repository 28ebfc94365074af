// Disk inspection: libparted (label, partitions), libblkid (probing at an offset,
// GPT from either header), libext2fs (superblock checksum, backup superblocks)
// and loop-device status. All run on the environment's disk thread, which gives
// up write permission at start, so no library can open an inspected disk for
// writing (libparted asks for O_RDWR and would otherwise get it as root).
#include <blkid/blkid.h>
#include <dlfcn.h>
#include <ext2fs/ext2fs.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/loop.h>
#include <napi.h>
#include <parted/parted.h>
#include <setjmp.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "addon_data.h"
#include "dynamic_library.h"
#include "work_thread.h"

namespace vmbf {
namespace {

// clang-format off
#define VMBF_PARTED_SYMBOLS(X) \
  X(ped_exception_set_handler) \
  X(ped_exception_catch) \
  X(ped_device_get) \
  X(ped_device_open) \
  X(ped_device_close) \
  X(ped_device_destroy) \
  X(ped_disk_probe) \
  X(ped_disk_new) \
  X(ped_disk_destroy) \
  X(ped_disk_next_partition) \
  X(ped_partition_is_active) \
  X(ped_partition_type_get_name) \
  X(ped_disk_type_check_feature) \
  X(ped_partition_get_name)
// clang-format on
VMBF_LIBRARY(PartedApi, VMBF_PARTED_SYMBOLS)

const PartedApi* LoadParted(LoadState* state) {
  return LoadLibraryOnce<PartedApi>("libparted.so.2", "libparted2", state);
}

// ---- read-only disk thread -------------------------------------------------

// fsuid "nobody" clears the file-permission capabilities of this thread only;
// CAP_DAC_READ_SEARCH is raised again so any image stays readable. Opening for
// write then fails with EACCES and libparted falls back to read-only itself.
bool g_read_only_thread_ok = false;  // written once by the disk thread

void DropWritePermission() {
  if (geteuid() != 0) return;  // a normal user opens only what it may write anyway
  setfsgid(65534);
  setfsuid(65534);
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct caps[2]{};
  if (syscall(SYS_capget, &header, caps) != 0) return;
  caps[CAP_DAC_READ_SEARCH / 32].effective |= 1u << (CAP_DAC_READ_SEARCH % 32);
  if (syscall(SYS_capset, &header, caps) != 0) return;
  g_read_only_thread_ok = true;
}

WorkThread& DiskThread(Napi::Env env) {
  AddonData* data = AddonData::Get(env);
  if (!data->disk_thread) {
    data->disk_thread = std::make_unique<WorkThread>(env, "disk", DropWritePermission);
  }
  return *data->disk_thread;
}

// ---- libparted -----------------------------------------------------------

std::mutex g_parted_mutex;  // libparted is not thread-safe, even on distinct files

struct PartedMessage {
  std::string type;  // information, warning, error, fatal, bug, no-feature
  std::string text;
  std::string answer;
};
std::vector<PartedMessage>* g_parted_messages = nullptr;  // guarded by g_parted_mutex

const char* ExceptionTypeName(PedExceptionType t) {
  switch (t) {
    case PED_EXCEPTION_INFORMATION:
      return "information";
    case PED_EXCEPTION_WARNING:
      return "warning";
    case PED_EXCEPTION_ERROR:
      return "error";
    case PED_EXCEPTION_FATAL:
      return "fatal";
    case PED_EXCEPTION_BUG:
      return "bug";
    default:
      return "no-feature";
  }
}

// libparted's ped_assert() printf()s a backtrace, throws a BUG exception, then
// calls abort(): a crafted partition table on a guest's disk (a GPT entry with
// a negative start) would kill the process inspecting it. The handler jumps
// back to the probe instead; only libparted's C frames lie in between.
thread_local sigjmp_buf* t_parted_escape = nullptr;

// Never Retry (a missing path loops for ever), never Fix or Yes (they write).
// An exception that offers Retry is an I/O error: Ignore would go on with bytes
// never read (a crafted GPT entry count then keeps libparted busy for seconds),
// so those are cancelled, as `parted -s` does.
PedExceptionOption AnswerException(PedException* ex) {
  static const std::pair<PedExceptionOption, const char*> kSafe[] = {{PED_EXCEPTION_IGNORE, "ignore"},
                                                                     {PED_EXCEPTION_OK, "ok"},
                                                                     {PED_EXCEPTION_CANCEL, "cancel"},
                                                                     {PED_EXCEPTION_NO, "no"}};
  const bool io_error = (ex->options & PED_EXCEPTION_RETRY) && (ex->options & PED_EXCEPTION_CANCEL);
  const bool escape = ex->type == PED_EXCEPTION_BUG && t_parted_escape != nullptr;
  PedExceptionOption answer = PED_EXCEPTION_UNHANDLED;
  const char* answer_name = escape ? "probe-abandoned" : "unhandled";
  for (const auto& [option, name] : kSafe) {
    if (escape || (io_error && option != PED_EXCEPTION_CANCEL)) continue;
    if (ex->options & option) {
      answer = option;
      answer_name = name;
      break;
    }
  }
  if (g_parted_messages) {
    g_parted_messages->push_back({ExceptionTypeName(ex->type), ex->message ? ex->message : "", answer_name});
  }
  if (escape) siglongjmp(*t_parted_escape, 1);
  return answer;
}

// C stdio's stdout points at /dev/null while libparted runs, so the backtrace
// of a failed assertion never reaches the terminal or a --json output (Node
// writes fd 1 itself, not through stdio).
class QuietStdout {
 public:
  QuietStdout() : saved_(stdout) {
    static FILE* sink = fopen("/dev/null", "we");
    if (sink) stdout = sink;
  }
  ~QuietStdout() {
    fflush(stdout);
    stdout = saved_;
  }
  QuietStdout(const QuietStdout&) = delete;
  QuietStdout& operator=(const QuietStdout&) = delete;

 private:
  FILE* saved_;
};

struct PartitionInfo {
  int number;
  std::string kind;  // normal, logical, extended
  long long start, length;
  std::string filesystem, name;
};

struct PartedReport {
  std::string label;  // "" when none
  long long sector_size = 0, length = 0;
  std::string model;
  bool opened = false, read_only = false;
  bool abandoned = false;  // libparted failed an assertion: label and partitions untrusted
  std::vector<PartitionInfo> partitions;
  std::vector<PartedMessage> messages;
};

// The libparted calls of one probe. No object with a destructor may be alive
// here while libparted runs: an assertion jumps straight out (AnswerException).
void WalkParted(const PartedApi* api, PedDevice* dev, PedDisk* volatile& disk, PartedReport& out) {
  if (PedDiskType* type = api->ped_disk_probe(dev)) {
    out.label = type->name;
    disk = api->ped_disk_new(dev);
    if (!disk) return;
    bool names = api->ped_disk_type_check_feature(disk->type, PED_DISK_TYPE_PARTITION_NAME);
    for (PedPartition* p = api->ped_disk_next_partition(disk, nullptr); p;
         p = api->ped_disk_next_partition(disk, p)) {
      if (!api->ped_partition_is_active(p)) continue;
      out.partitions.emplace_back();
      PartitionInfo& info = out.partitions.back();
      info.number = p->num;
      info.kind = (p->type & PED_PARTITION_EXTENDED)  ? "extended"
                  : (p->type & PED_PARTITION_LOGICAL) ? "logical"
                                                      : "normal";
      info.start = p->geom.start;
      info.length = p->geom.length;
      if (p->fs_type) info.filesystem = p->fs_type->name;
      if (names) {
        const char* n = api->ped_partition_get_name(p);
        if (n) info.name = n;
      }
    }
  }
}

void SilentDeviceMapperLog(int, const char*, int, int, const char*, ...) {}

// libparted asks device-mapper for a dm device's target type (an LVM volume: "linear"), through
// /dev/mapper/control, which libdevmapper opens O_RDWR: the disk thread's fsuid "nobody" cannot,
// and libparted then refuses the device. libdevmapper keeps that descriptor once it has it, so it is
// opened here with root's fsuid for one version query, no disk opened meanwhile; the node is never
// created (libdevmapper would mknod it). Called with g_parted_mutex held: libdevmapper is libparted's.
void OpenDeviceMapperControl(const std::string& path) {
  struct stat st;
  if (!g_read_only_thread_ok || stat(path.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) return;
  char dm_dir[64];
  snprintf(dm_dir, sizeof dm_dir, "/sys/dev/block/%u:%u/dm", major(st.st_rdev), minor(st.st_rdev));
  struct stat control;
  if (access(dm_dir, F_OK) != 0 || stat("/dev/mapper/control", &control) != 0 || !S_ISCHR(control.st_mode))
    return;
  void* dm = dlopen("libdevmapper.so.1.02.1", RTLD_NOW | RTLD_NOLOAD);  // loaded by libparted, or absent
  if (!dm) return;
  using LogInit = void (*)(void (*)(int, const char*, int, int, const char*, ...));
  using DriverVersion = int (*)(char*, size_t);
  auto log_init = reinterpret_cast<LogInit>(dlsym(dm, "dm_log_with_errno_init"));
  auto driver_version = reinterpret_cast<DriverVersion>(dlsym(dm, "dm_driver_version"));
  if (log_init) log_init(SilentDeviceMapperLog);  // only the CLI prints
  if (driver_version) {
    setfsuid(0);
    setfsgid(0);
    char version[64];
    driver_version(version, sizeof version);
    DropWritePermission();  // back to "nobody", CAP_DAC_READ_SEARCH raised again
  }
  dlclose(dm);
}

Failure ProbeParted(const std::string& path, PartedReport& out) {
  LoadState load;
  const PartedApi* api = LoadParted(&load);
  if (!api) return Failure::Of("ERR_LIB_UNAVAILABLE", "parted", "dlopen", load.error, path);
  std::lock_guard<std::mutex> lock(g_parted_mutex);
  QuietStdout quiet;
  g_parted_messages = &out.messages;
  api->ped_exception_set_handler(AnswerException);
  OpenDeviceMapperControl(path);
  Failure failure;
  PedDevice* dev = api->ped_device_get(path.c_str());
  if (!dev) {
    std::string said;
    for (const PartedMessage& m : out.messages) said += (said.empty() ? "" : "; ") + m.text;
    failure = Failure::Of("ERR_PARTED_DEVICE", "parted", "ped_device_get",
                          "libparted cannot use this path" + (said.empty() ? "" : ": " + said), path);
  } else {
    out.sector_size = dev->sector_size;
    out.length = dev->length;
    out.model = dev->model ? dev->model : "";
    if (api->ped_device_open(dev)) {
      out.opened = true;
      out.read_only = dev->read_only;
      PedDisk* volatile disk = nullptr;
      sigjmp_buf escape;
      if (sigsetjmp(escape, 0) == 0) {
        t_parted_escape = &escape;
        WalkParted(api, dev, disk, out);
      } else {
        // A half-built PedDisk is leaked on purpose: its state is what failed.
        // The jump skipped libparted's own clean-up of the exception.
        api->ped_exception_catch();
        out.abandoned = true;
        out.label.clear();
        out.partitions.clear();
        disk = nullptr;
      }
      t_parted_escape = nullptr;
      if (disk) api->ped_disk_destroy(disk);
      api->ped_device_close(dev);
    }
    // Devices are cached by path with a stale length: never reuse one.
    api->ped_device_destroy(dev);
  }
  api->ped_exception_set_handler(nullptr);
  g_parted_messages = nullptr;
  return failure;
}

Napi::Value PartedToJs(Napi::Env env, PartedReport& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("label", r.label.empty() ? env.Null() : Napi::String::New(env, r.label));
  o.Set("sectorSize", Napi::Number::New(env, static_cast<double>(r.sector_size)));
  o.Set("lengthSectors", Napi::Number::New(env, static_cast<double>(r.length)));
  o.Set("model", r.model);
  o.Set("opened", r.opened);
  o.Set("openedReadOnly", r.read_only);
  o.Set("abandoned", r.abandoned);
  Napi::Array parts = Napi::Array::New(env, r.partitions.size());
  for (size_t i = 0; i < r.partitions.size(); ++i) {
    const PartitionInfo& p = r.partitions[i];
    Napi::Object po = Napi::Object::New(env);
    po.Set("number", p.number);
    po.Set("kind", p.kind);
    po.Set("startSector", Napi::Number::New(env, static_cast<double>(p.start)));
    po.Set("lengthSectors", Napi::Number::New(env, static_cast<double>(p.length)));
    po.Set("filesystem", p.filesystem.empty() ? env.Null() : Napi::String::New(env, p.filesystem));
    po.Set("name", p.name);
    parts.Set(i, po);
  }
  o.Set("partitions", parts);
  Napi::Array msgs = Napi::Array::New(env, r.messages.size());
  for (size_t i = 0; i < r.messages.size(); ++i) {
    Napi::Object m = Napi::Object::New(env);
    m.Set("type", r.messages[i].type);
    m.Set("message", r.messages[i].text);
    m.Set("answer", r.messages[i].answer);
    msgs.Set(i, m);
  }
  o.Set("messages", msgs);
  return o;
}

// ---- libblkid ---------------------------------------------------------------

struct BlkidPartition {
  int number;
  long long start, size;
  std::string type, name, uuid;  // uuid: the PARTUUID= Linux matches (GPT entry GUID, MBR "id-NN")
};
struct BlkidReport {
  std::map<std::string, std::string> values;  // TYPE, UUID, LABEL, PTTYPE, ...
  bool has_table = false;
  std::string table_type, table_id;
  std::vector<BlkidPartition> partitions;
  int result = 1;  // blkid_do_safeprobe: 0 found, 1 nothing, -2 ambivalent
};

Failure ProbeBlkid(const std::string& path, long long offset, long long size, BlkidReport& out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Failure::FromErrno(errno, "blkid", "open", path);
  blkid_probe pr = blkid_new_probe();
  Failure failure;
  if (!pr) {
    failure = Failure::FromErrno(ENOMEM, "blkid", "blkid_new_probe", path);
  } else if (blkid_probe_set_device(pr, fd, offset, size) != 0) {
    failure = Failure::FromErrno(errno ? errno : EINVAL, "blkid", "blkid_probe_set_device", path);
  } else {
    blkid_probe_enable_superblocks(pr, 1);
    blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID | BLKID_SUBLKS_TYPE |
                                              BLKID_SUBLKS_VERSION | BLKID_SUBLKS_BADCSUM);
    blkid_probe_enable_partitions(pr, 1);
    blkid_probe_set_partitions_flags(pr, BLKID_PARTS_ENTRY_DETAILS);
    out.result = blkid_do_safeprobe(pr);
    if (out.result == 0) {
      int n = blkid_probe_numof_values(pr);
      for (int i = 0; i < n; ++i) {
        const char *name, *data;
        size_t len;
        if (blkid_probe_get_value(pr, i, &name, &data, &len) == 0) {
          out.values[name] = std::string(data, len ? len - 1 : 0);
        }
      }
      if (blkid_partlist list = blkid_probe_get_partitions(pr)) {
        if (blkid_parttable table = blkid_partlist_get_table(list)) {
          out.has_table = true;
          const char* type = blkid_parttable_get_type(table);
          const char* id = blkid_parttable_get_id(table);
          out.table_type = type ? type : "";
          out.table_id = id ? id : "";
        }
        int np = blkid_partlist_numof_partitions(list);
        for (int i = 0; i < np; ++i) {
          blkid_partition part = blkid_partlist_get_partition(list, i);
          const char* type = blkid_partition_get_type_string(part);
          const char* name = blkid_partition_get_name(part);
          const char* uuid = blkid_partition_get_uuid(part);
          out.partitions.push_back({blkid_partition_get_partno(part), blkid_partition_get_start(part),
                                    blkid_partition_get_size(part), type ? type : "", name ? name : "",
                                    uuid ? uuid : ""});
        }
      }
    } else if (out.result == -1) {
      failure = Failure::FromErrno(errno ? errno : EIO, "blkid", "blkid_do_safeprobe", path);
    }
    blkid_free_probe(pr);
  }
  close(fd);
  return failure;
}

Napi::Value BlkidToJs(Napi::Env env, BlkidReport& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ambivalent", r.result == -2);
  Napi::Object values = Napi::Object::New(env);
  for (const auto& [k, v] : r.values) values.Set(k, v);
  o.Set("values", values);
  if (r.has_table) {
    Napi::Object t = Napi::Object::New(env);
    t.Set("type", r.table_type);
    t.Set("id", r.table_id);
    Napi::Array parts = Napi::Array::New(env, r.partitions.size());
    for (size_t i = 0; i < r.partitions.size(); ++i) {
      const BlkidPartition& p = r.partitions[i];
      Napi::Object po = Napi::Object::New(env);
      po.Set("number", p.number);
      po.Set("startSector", Napi::Number::New(env, static_cast<double>(p.start)));
      po.Set("sizeSectors", Napi::Number::New(env, static_cast<double>(p.size)));
      po.Set("type", p.type);
      po.Set("name", p.name);
      po.Set("uuid", p.uuid);
      parts.Set(i, po);
    }
    t.Set("partitions", parts);
    o.Set("partitionTable", t);
  } else {
    o.Set("partitionTable", env.Null());
  }
  return o;
}

// ---- libext2fs ------------------------------------------------------------
// libext2fs opens the filesystem and reads descriptors and inodes; the kernel's
// mount-time judgments (fs/ext4/super.c, fs/jbd2/journal.c) are made in
// TypeScript (src/disk/ext-mount-model.ts) from the facts gathered here.

struct Ext2Attempt {
  long long superblock = 0;  // 0 = primary
  int block_size = 0;
  errcode_t code = 0;
};
struct DescProblem {
  unsigned group;
  std::string what;  // block-bitmap-overlaps-superblock, inode-table-not-in-group, checksum, ...
  unsigned long long block;
};
struct InodeFacts {
  bool read = false;
  errcode_t code = 0;  // ext2fs_read_inode2 without IGNORE_CSUM
  unsigned mode = 0, links = 0, flags = 0;
  unsigned long long size = 0, blocks = 0;
};
struct Ext2Report {
  Ext2Attempt primary;
  bool primary_ok = false;
  bool backup_found = false;
  Ext2Attempt backup;
  unsigned long long blocks = 0;
  unsigned block_size = 0;
  std::string uuid, label;
  bool has_journal = false, metadata_csum = false;
  // The primary superblock as read from the disk, whatever libext2fs thinks of it.
  bool raw_read = false;
  ext2_super_block raw{};
  unsigned raw_checksum_computed = 0;
  // Open again ignoring checksum errors, to reach the descriptors and inodes.
  bool deep_ok = false;
  errcode_t deep_code = 0;
  errcode_t check_desc_code = 0;
  unsigned groups = 0, gdt_blocks = 0, desc_problem_count = 0;
  std::vector<DescProblem> desc_problems;
  InodeFacts root, journal;
  errcode_t journal_bmap_code = 0;
  unsigned long long journal_block0 = 0;
  std::vector<unsigned char> journal_super;  // 1024 bytes of the journal superblock
  errcode_t journal_read_code = 0;
  // Block 0 of the root directory: every path lookup reads it first (metadata_csum only).
  bool root_dir_checked = false, root_dir_csum_ok = true;
  unsigned long long root_dir_block = 0;
  // The multi-mount protection block (mmp feature).
  bool mmp_read = false, mmp_csum_ok = true;
  errcode_t mmp_read_code = 0;
  unsigned mmp_magic = 0, mmp_seq = 0;
};

std::string Ext2Message(errcode_t code) {
  return code ? error_message(code) : "";
}

// What a failed primary open says about the superblock itself.
const char* Ext2Problem(errcode_t code) {
  switch (code) {
    case EXT2_ET_BAD_MAGIC:
      return "bad-magic";
    case EXT2_ET_SB_CSUM_INVALID:
      return "bad-checksum";
    case EXT2_ET_CORRUPT_SUPERBLOCK:
    case EXT2_ET_BAD_DESC_SIZE:
      return "corrupt";
    case EXT2_ET_GDESC_BAD_BLOCK_MAP:
    case EXT2_ET_GDESC_BAD_INODE_MAP:
    case EXT2_ET_GDESC_BAD_INODE_TABLE:
      return "bad-group-descriptors";
    case EXT2_ET_SHORT_READ:
      return "truncated";
    case EXT2_ET_UNSUPP_FEATURE:
    case EXT2_ET_RO_UNSUPP_FEATURE:
      return "unsupported-feature";
    default:
      return "other";
  }
}

errcode_t OpenExt2(const std::string& path, long long offset, long long superblock, int block_size,
                   int extra_flags, ext2_filsys* fs) {
  std::string options = "offset=" + std::to_string(offset);
  // No EXT2_FLAG_RW: the filesystem is opened read-only.
  return ext2fs_open2(path.c_str(), options.c_str(), EXT2_FLAG_64BITS | extra_flags, superblock,
                      static_cast<unsigned>(block_size), unix_io_manager, fs);
}

void DescribeExt2(ext2_filsys fs, Ext2Report& out) {
  out.blocks = ext2fs_blocks_count(fs->super);
  out.block_size = fs->blocksize;
  char uuid[37];
  const unsigned char* u = fs->super->s_uuid;
  snprintf(uuid, sizeof uuid, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
           u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
  out.uuid = uuid;
  out.label.assign(
      reinterpret_cast<const char*>(fs->super->s_volume_name),
      strnlen(reinterpret_cast<const char*>(fs->super->s_volume_name), sizeof fs->super->s_volume_name));
  out.has_journal = ext2fs_has_feature_journal(fs->super);
  out.metadata_csum = ext2fs_has_feature_metadata_csum(fs->super);
}

// The primary superblock, read raw: the kernel judges these bytes, also when
// libext2fs refuses them. x86 and arm64 dom0s are little-endian like the format.
void ReadRawSuper(const std::string& path, long long offset, Ext2Report& out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return;
  ssize_t n = pread(fd, &out.raw, sizeof out.raw, offset + SUPERBLOCK_OFFSET);
  close(fd);
  if (n != static_cast<ssize_t>(sizeof out.raw)) return;
  out.raw_read = true;
  out.raw_checksum_computed = ext2fs_crc32c_le(~0U, reinterpret_cast<const unsigned char*>(&out.raw),
                                               offsetof(struct ext2_super_block, s_checksum));
}

void ReadInodeFacts(ext2_filsys fs, ext2_ino_t ino, InodeFacts& out) {
  ext2_inode_large inode{};
  int saved = fs->flags;
  fs->flags &= ~EXT2_FLAG_IGNORE_CSUM_ERRORS;  // report a bad inode checksum as the kernel does
  out.code = ext2fs_read_inode2(fs, ino, reinterpret_cast<ext2_inode*>(&inode), sizeof inode, 0);
  fs->flags = saved;
  if (out.code == EXT2_ET_INODE_CSUM_INVALID)
    ext2fs_read_inode2(fs, ino, reinterpret_cast<ext2_inode*>(&inode), sizeof inode, 0);
  else if (out.code)
    return;
  out.read = true;
  out.mode = inode.i_mode;
  out.links = inode.i_links_count;
  out.flags = inode.i_flags;
  out.size = EXT2_I_SIZE(&inode);
  out.blocks = inode.i_blocks | (static_cast<unsigned long long>(inode.osd2.linux2.l_i_blocks_hi) << 32);
}

// ext4_setup_system_zone() of Linux 6.1 fs/ext4/block_validity.c (block_validity is
// on by default): the superblock and descriptor blocks of the groups that carry
// them, and each group's bitmaps and inode table, are added in that order, and a
// zone that starts inside one already added fails the mount with -EFSCORRUPTED.
void CheckSystemZone(ext2_filsys fs, Ext2Report& out) {
  ext2_super_block* sb = fs->super;
  std::map<unsigned long long, unsigned long long> zones;  // start -> count
  const unsigned per_block = EXT2_DESC_PER_BLOCK(sb);
  const bool meta_bg = ext2fs_has_feature_meta_bg(sb);
  const unsigned long long flex_size =
      ext2fs_has_feature_flex_bg(sb) && sb->s_log_groups_per_flex > 0 && sb->s_log_groups_per_flex < 32
          ? 1ULL << sb->s_log_groups_per_flex
          : 1;
  auto num_gdb = [&](dgrp_t g) -> unsigned long long {  // ext4_bg_num_gdb()
    if (!meta_bg || g / per_block < sb->s_first_meta_bg)
      return ext2fs_bg_has_super(fs, g) ? (meta_bg ? sb->s_first_meta_bg : fs->desc_blocks) : 0;
    dgrp_t first = g / per_block * per_block;
    return g == first || g == first + 1 || g == first + per_block - 1 ? 1 : 0;
  };
  auto add = [&](dgrp_t g, const char* what, unsigned long long start, unsigned long long count) {
    auto it = zones.upper_bound(start);
    if (it != zones.begin()) {
      auto prev = std::prev(it);
      if (start < prev->first + prev->second) {
        ++out.desc_problem_count;
        if (out.desc_problems.size() < 16)
          out.desc_problems.push_back({g, std::string(what) + "-overlaps-system-zone", start});
        return false;
      }
    }
    zones[start] = count;
    return true;
  };
  for (dgrp_t i = 0; i < fs->group_desc_count; ++i) {
    if (ext2fs_bg_has_super(fs, i) && (i < 5 || i % flex_size == 0)) {
      unsigned long long first =
          sb->s_first_data_block + static_cast<unsigned long long>(i) * sb->s_blocks_per_group;
      if (!add(i, "superblock", first, num_gdb(i) + 1)) return;
    }
    if (!add(i, "block-bitmap", ext2fs_block_bitmap_loc(fs, i), 1)) return;
    if (!add(i, "inode-bitmap", ext2fs_inode_bitmap_loc(fs, i), 1)) return;
    if (!add(i, "inode-table", ext2fs_inode_table_loc(fs, i), fs->inode_blocks_per_group)) return;
  }
}

// ext4_check_descriptors() of Linux 6.1 fs/ext4/super.c, with its own bounds:
// a bitmap on the superblock or the descriptor blocks refuses a read-write
// mount, one outside its group (the whole filesystem with flex_bg) any mount,
// a descriptor checksum mismatch a read-write mount. Written here because
// libext2fs's ext2fs_check_desc() applies e2fsck's stricter rules instead.
void CheckDescriptors(ext2_filsys fs, Ext2Report& out) {
  constexpr size_t kMaxReported = 16;
  ext2_super_block* sb = fs->super;
  const unsigned long long sb_block = fs->blocksize == 1024 ? 1 : 0;
  const unsigned long long blocks = ext2fs_blocks_count(sb);
  const bool flex = ext2fs_has_feature_flex_bg(sb);
  unsigned long long gdb0 = ext2fs_has_feature_meta_bg(sb) ? 1 : fs->desc_blocks;
  const unsigned long long last_bg_block = sb_block + gdb0;
  const unsigned long long itb = fs->inode_blocks_per_group;
  unsigned long long first_block = sb->s_first_data_block;
  out.groups = fs->group_desc_count;
  out.gdt_blocks = fs->desc_blocks;
  auto report = [&out](unsigned g, const char* what, unsigned long long block) {
    ++out.desc_problem_count;
    if (out.desc_problems.size() < kMaxReported) out.desc_problems.push_back({g, what, block});
  };
  for (dgrp_t i = 0; i < fs->group_desc_count; ++i) {
    unsigned long long last_block =
        (i == fs->group_desc_count - 1 || flex) ? blocks - 1 : first_block + sb->s_blocks_per_group - 1;
    struct {
      const char* name;
      unsigned long long at, len;
    } parts[] = {{"block-bitmap", ext2fs_block_bitmap_loc(fs, i), 1},
                 {"inode-bitmap", ext2fs_inode_bitmap_loc(fs, i), 1},
                 {"inode-table", ext2fs_inode_table_loc(fs, i), itb}};
    for (auto& p : parts) {
      std::string name = p.name;
      if (p.at == sb_block) report(i, (name + "-overlaps-superblock").c_str(), p.at);
      if (p.at >= sb_block + 1 && p.at <= last_bg_block)
        report(i, (name + "-overlaps-descriptors").c_str(), p.at);
      if (p.at < first_block || p.at + (p.len ? p.len - 1 : 0) > last_block)
        report(i, (name + "-not-in-group").c_str(), p.at);
    }
    if (!ext2fs_group_desc_csum_verify(fs, i)) report(i, "checksum", 0);
    if (!flex) first_block += sb->s_blocks_per_group;
  }
  CheckSystemZone(fs, out);
}

// fs/ext4/namei.c __ext4_find_entry() and dx_probe() verify a directory block's checksum before
// using it ("checksumming directory block 0", "No space for directory leaf checksum") and fail the
// lookup with EFSBADCRC: with block 0 of / bad, no path resolves, so init is never found.
// libext2fs's ext2fs_dir_block_csum_verify() checks the same leaf tail or htree tail.
void CheckRootDirBlock(ext2_filsys fs, Ext2Report& out) {
  if (!ext2fs_has_feature_metadata_csum(fs->super) || !out.root.read || !LINUX_S_ISDIR(out.root.mode)) return;
  if (out.root.flags & EXT4_INLINE_DATA_FL) return;  // the entries are in the inode itself
  blk64_t phys = 0;
  if (ext2fs_bmap2(fs, EXT2_ROOT_INO, nullptr, nullptr, 0, 0, nullptr, &phys) || phys == 0 ||
      phys >= ext2fs_blocks_count(fs->super))
    return;
  std::vector<char> block(fs->blocksize);
  if (io_channel_read_blk64(fs->io, phys, 1, block.data())) return;
  out.root_dir_checked = true;
  out.root_dir_block = phys;
  out.root_dir_csum_ok =
      ext2fs_dir_block_csum_verify(fs, EXT2_ROOT_INO, reinterpret_cast<ext2_dir_entry*>(block.data())) != 0;
}

// fs/ext4/mmp.c ext4_multi_mount_protect(), on a read-write mount only: read_mmp_block() fails the
// mount on a bad magic or checksum. Read with the filesystem's own channel: libext2fs's
// ext2fs_mmp_read() opens the device again, read-write with O_DIRECT.
void CheckMmpBlock(ext2_filsys fs, Ext2Report& out) {
  ext2_super_block* sb = fs->super;
  if (!ext2fs_has_feature_mmp(sb) || sb->s_mmp_block < sb->s_first_data_block ||
      sb->s_mmp_block >= ext2fs_blocks_count(sb))
    return;
  std::vector<char> block(fs->blocksize);
  out.mmp_read_code = io_channel_read_blk64(fs->io, sb->s_mmp_block, 1, block.data());
  if (out.mmp_read_code) return;
  auto* mmp = reinterpret_cast<mmp_struct*>(block.data());
  out.mmp_read = true;
  out.mmp_magic = mmp->mmp_magic;
  out.mmp_seq = mmp->mmp_seq;
  out.mmp_csum_ok = ext2fs_mmp_csum_verify(fs, mmp) != 0;
}

void DeepExt2(const std::string& path, long long offset, Ext2Report& out) {
  ext2_filsys fs = nullptr;
  out.deep_code = OpenExt2(path, offset, 0, 0, EXT2_FLAG_IGNORE_CSUM_ERRORS, &fs);
  if (out.deep_code) return;
  out.deep_ok = true;
  if (!out.primary_ok) DescribeExt2(fs, out);
  out.check_desc_code = ext2fs_check_desc(fs);
  CheckDescriptors(fs, out);
  ReadInodeFacts(fs, EXT2_ROOT_INO, out.root);
  ext2_super_block* sb = fs->super;
  if (ext2fs_has_feature_journal(sb) && sb->s_journal_inum != 0 && sb->s_journal_inum <= sb->s_inodes_count) {
    ReadInodeFacts(fs, sb->s_journal_inum, out.journal);
    if (out.journal.read) {
      blk64_t phys = 0;
      out.journal_bmap_code = ext2fs_bmap2(fs, sb->s_journal_inum, nullptr, nullptr, 0, 0, nullptr, &phys);
      out.journal_block0 = phys;
      if (!out.journal_bmap_code && phys != 0 && phys < ext2fs_blocks_count(sb)) {
        std::vector<unsigned char> block(fs->blocksize);
        out.journal_read_code = io_channel_read_blk64(fs->io, phys, 1, block.data());
        if (!out.journal_read_code) out.journal_super.assign(block.begin(), block.begin() + 1024);
      }
    }
  }
  CheckRootDirBlock(fs, out);
  CheckMmpBlock(fs, out);
  ext2fs_close_free(&fs);
}

Failure ProbeExt2(const std::string& path, long long offset, Ext2Report& out) {
  static std::once_flag tables;
  std::call_once(tables, [] { initialize_ext2_error_table(); });
  ReadRawSuper(path, offset, out);
  ext2_filsys fs = nullptr;
  out.primary.code = OpenExt2(path, offset, 0, 0, 0, &fs);
  if (out.primary.code == 0) {
    out.primary_ok = true;
    DescribeExt2(fs, out);
    ext2fs_close_free(&fs);
  }
  if (out.raw_read && out.raw.s_magic == EXT2_SUPER_MAGIC) DeepExt2(path, offset, out);
  if (out.primary_ok) return Failure{};
  // Backups sit at the start of groups 1, 3, 5, 7, 9, 25, 27 (sparse_super);
  // a group holds 8 * block_size blocks. Same order as e2fsck's own search.
  static const int kGroups[] = {1, 3, 5, 7, 9, 25, 27};
  for (int block_size : {1024, 2048, 4096}) {
    for (int group : kGroups) {
      long long block = static_cast<long long>(group) * 8 * block_size + (block_size == 1024 ? 1 : 0);
      fs = nullptr;
      errcode_t code = OpenExt2(path, offset, block, block_size, 0, &fs);
      if (code == 0) {
        out.backup_found = true;
        out.backup = {block, block_size, 0};
        if (!out.deep_ok) DescribeExt2(fs, out);
        ext2fs_close_free(&fs);
        return Failure{};
      }
    }
  }
  return Failure{};
}

Napi::Value RawSuperToJs(Napi::Env env, const Ext2Report& r) {
  const ext2_super_block& s = r.raw;
  Napi::Object o = Napi::Object::New(env);
  auto num = [&](const char* k, double v) { o.Set(k, Napi::Number::New(env, v)); };
  num("magic", s.s_magic);
  num("revLevel", s.s_rev_level);
  num("state", s.s_state);
  num("errors", s.s_errors);
  num("logBlockSize", s.s_log_block_size);
  num("logClusterSize", s.s_log_cluster_size);
  num("blocksCountLo", s.s_blocks_count);
  num("blocksCountHi", s.s_blocks_count_hi);
  num("inodesCount", s.s_inodes_count);
  num("firstDataBlock", s.s_first_data_block);
  num("blocksPerGroup", s.s_blocks_per_group);
  num("clustersPerGroup", s.s_clusters_per_group);
  num("inodesPerGroup", s.s_inodes_per_group);
  num("firstIno", s.s_first_ino);
  num("inodeSize", s.s_inode_size);
  num("descSize", s.s_desc_size);
  num("featureCompat", s.s_feature_compat);
  num("featureIncompat", s.s_feature_incompat);
  num("featureRoCompat", s.s_feature_ro_compat);
  num("firstMetaBg", s.s_first_meta_bg);
  num("reservedGdtBlocks", s.s_reserved_gdt_blocks);
  num("logGroupsPerFlex", s.s_log_groups_per_flex);
  num("minExtraIsize", s.s_min_extra_isize);
  num("wantExtraIsize", s.s_want_extra_isize);
  num("checksumType", s.s_checksum_type);
  num("checksum", s.s_checksum);
  num("checksumComputed", r.raw_checksum_computed);
  num("journalInum", s.s_journal_inum);
  num("usrQuotaInum", s.s_usr_quota_inum);
  num("grpQuotaInum", s.s_grp_quota_inum);
  num("prjQuotaInum", s.s_prj_quota_inum);
  num("mmpBlock", static_cast<double>(s.s_mmp_block));
  num("journalDev", s.s_journal_dev);
  num("encoding", s.s_encoding);
  num("mntCount", s.s_mnt_count);
  num("maxMntCount", static_cast<int16_t>(s.s_max_mnt_count));
  num("creatorOs", s.s_creator_os);
  bool uuid_set = false;
  for (unsigned char c : s.s_journal_uuid) uuid_set = uuid_set || c != 0;
  o.Set("journalUuidSet", uuid_set);
  return o;
}

Napi::Object InodeToJs(Napi::Env env, const InodeFacts& f) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("read", f.read);
  if (f.code) o.Set("error", Ext2Message(f.code));
  o.Set("checksumValid", f.code != EXT2_ET_INODE_CSUM_INVALID);
  o.Set("mode", f.mode);
  o.Set("links", f.links);
  o.Set("flags", Napi::Number::New(env, f.flags));
  o.Set("size", Napi::Number::New(env, static_cast<double>(f.size)));
  o.Set("blocks", Napi::Number::New(env, static_cast<double>(f.blocks)));
  return o;
}

Napi::Value Ext2ToJs(Napi::Env env, Ext2Report& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("primaryValid", r.primary_ok);
  if (!r.primary_ok) {
    o.Set("primaryErrorCode", Napi::Number::New(env, static_cast<double>(r.primary.code)));
    o.Set("primaryError", Ext2Message(r.primary.code));
    o.Set("primaryProblem", Ext2Problem(r.primary.code));
  }
  if (r.backup_found) {
    Napi::Object b = Napi::Object::New(env);
    b.Set("block", Napi::Number::New(env, static_cast<double>(r.backup.superblock)));
    b.Set("blockSize", r.backup.block_size);
    o.Set("backup", b);
  } else {
    o.Set("backup", env.Null());
  }
  if (r.primary_ok || r.backup_found || r.deep_ok) {
    o.Set("blockSize", r.block_size);
    o.Set("blocks", Napi::Number::New(env, static_cast<double>(r.blocks)));
    o.Set("uuid", r.uuid);
    o.Set("label", r.label);
    o.Set("hasJournal", r.has_journal);
    o.Set("metadataChecksums", r.metadata_csum);
  }
  o.Set("superblock", r.raw_read ? RawSuperToJs(env, r) : env.Null());
  if (r.raw_read && r.raw.s_magic == EXT2_SUPER_MAGIC) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("opened", r.deep_ok);
    if (r.deep_code) d.Set("openError", Ext2Message(r.deep_code));
    if (r.deep_ok) {
      if (r.check_desc_code) d.Set("checkDescError", Ext2Message(r.check_desc_code));
      d.Set("groups", r.groups);
      d.Set("descriptorBlocks", r.gdt_blocks);
      d.Set("descriptorProblemCount", r.desc_problem_count);
      Napi::Array problems = Napi::Array::New(env, r.desc_problems.size());
      for (size_t i = 0; i < r.desc_problems.size(); ++i) {
        Napi::Object p = Napi::Object::New(env);
        p.Set("group", r.desc_problems[i].group);
        p.Set("what", r.desc_problems[i].what);
        p.Set("block", Napi::Number::New(env, static_cast<double>(r.desc_problems[i].block)));
        problems.Set(i, p);
      }
      d.Set("descriptorProblems", problems);
      d.Set("rootInode", InodeToJs(env, r.root));
      if (r.journal.read || r.journal.code) {
        Napi::Object j = InodeToJs(env, r.journal);
        if (r.journal_bmap_code) j.Set("bmapError", Ext2Message(r.journal_bmap_code));
        j.Set("firstBlock", Napi::Number::New(env, static_cast<double>(r.journal_block0)));
        if (r.journal_read_code) j.Set("readError", Ext2Message(r.journal_read_code));
        if (!r.journal_super.empty())
          j.Set("superblock",
                Napi::Buffer<unsigned char>::Copy(env, r.journal_super.data(), r.journal_super.size()));
        d.Set("journalInode", j);
      }
      if (r.root_dir_checked) {
        Napi::Object b = Napi::Object::New(env);
        b.Set("block", Napi::Number::New(env, static_cast<double>(r.root_dir_block)));
        b.Set("checksumValid", r.root_dir_csum_ok);
        d.Set("rootDirBlock0", b);
      }
      if (r.mmp_read || r.mmp_read_code) {
        Napi::Object m = Napi::Object::New(env);
        if (r.mmp_read_code) m.Set("readError", Ext2Message(r.mmp_read_code));
        m.Set("magic", Napi::Number::New(env, r.mmp_magic));
        m.Set("sequence", Napi::Number::New(env, r.mmp_seq));
        m.Set("checksumValid", r.mmp_csum_ok);
        d.Set("mmp", m);
      }
    }
    o.Set("deep", d);
  }
  return o;
}

// ---- raw areas (xfs, btrfs superblocks) -------------------------------------
// No Debian library exposes the xfs or btrfs superblock verifiers, so their
// checks are made in TypeScript on these bytes; the CRC is libext2fs's crc32c.

struct AreaReport {
  std::vector<unsigned char> bytes;
};

Failure ReadArea(const std::string& path, long long offset, long long length, AreaReport& out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return Failure::FromErrno(errno, "vmbootfail", "open", path);
  out.bytes.resize(static_cast<size_t>(length));
  ssize_t n = pread(fd, out.bytes.data(), out.bytes.size(), offset);
  int err = errno;
  close(fd);
  if (n < 0) return Failure::FromErrno(err, "vmbootfail", "pread", path);
  out.bytes.resize(static_cast<size_t>(n));  // short at the end of the disk
  return Failure{};
}

Napi::Value AreaToJs(Napi::Env env, AreaReport& r) {
  return Napi::Buffer<unsigned char>::Copy(env, r.bytes.data(), r.bytes.size());
}

// ---- files inside an ext filesystem -------------------------------------------
// The guest's own /etc/fstab and /boot/grub/grub.cfg say what its boot needs;
// libext2fs reads them from the image without mounting it (a guest filesystem
// is never mounted on dom0). Read-only open, symlinks followed inside the image.

struct FileReport {
  bool opened = false;  // libext2fs opened the filesystem
  bool found = false;
  unsigned inode = 0;   // to tell two names of one file apart from two files (/sbin/init -> systemd)
  std::string missing;  // the errno-like reason when not found: ENOENT, ENOTDIR, EISDIR, ...
  unsigned long long size = 0;
  std::vector<unsigned char> bytes;
};

Failure ReadExt2File(const std::string& path, long long offset, const std::string& name, long long limit,
                     long long file_offset, FileReport& out) {
  static std::once_flag tables;
  std::call_once(tables, [] { initialize_ext2_error_table(); });
  ext2_filsys fs = nullptr;
  errcode_t code = OpenExt2(path, offset, 0, 0, 0, &fs);
  // A stale checksum does not stop the kernel reading files on a ro mount; neither does it here.
  if (code) code = OpenExt2(path, offset, 0, 0, EXT2_FLAG_IGNORE_CSUM_ERRORS, &fs);
  if (code) {
    out.missing = Ext2Message(code);
    return Failure{};
  }
  out.opened = true;
  ext2_ino_t ino = 0;
  code = ext2fs_namei_follow(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, name.c_str(), &ino);
  if (code == EXT2_ET_FILE_NOT_FOUND) {
    out.missing = "ENOENT";
  } else if (code == EXT2_ET_NO_DIRECTORY) {
    out.missing = "ENOTDIR";
  } else if (code) {
    out.missing = Ext2Message(code);
  } else {
    ext2_inode inode{};
    out.inode = ino;
    code = ext2fs_read_inode(fs, ino, &inode);
    if (code) {
      out.missing = Ext2Message(code);
    } else if (!LINUX_S_ISREG(inode.i_mode)) {
      out.missing = LINUX_S_ISDIR(inode.i_mode) ? "EISDIR" : "ENOTREG";
    } else {
      out.found = true;
      out.size = EXT2_I_SIZE(&inode);
      ext2_file_t file = nullptr;
      code = ext2fs_file_open(fs, ino, 0, &file);
      if (!code && file_offset > 0) code = ext2fs_file_llseek(file, file_offset, EXT2_SEEK_SET, nullptr);
      if (!code) {
        unsigned long long left =
            out.size > static_cast<unsigned long long>(file_offset) ? out.size - file_offset : 0;
        out.bytes.resize(static_cast<size_t>(std::min<unsigned long long>(left, limit)));
        size_t got = 0;
        while (got < out.bytes.size()) {
          unsigned int n = 0;
          code = ext2fs_file_read(file, out.bytes.data() + got, static_cast<unsigned>(out.bytes.size() - got),
                                  &n);
          if (code || n == 0) break;
          got += n;
        }
        out.bytes.resize(got);
        ext2fs_file_close(file);
      }
      if (code) out.missing = Ext2Message(code);  // found, but a block would not read
    }
  }
  ext2fs_close_free(&fs);
  return Failure{};
}

Napi::Value FileToJs(Napi::Env env, FileReport& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("opened", r.opened);
  o.Set("found", r.found);
  if (!r.missing.empty()) o.Set("error", r.missing);
  if (r.inode) o.Set("inode", r.inode);
  if (r.found) {
    o.Set("size", Napi::Number::New(env, static_cast<double>(r.size)));
    o.Set("bytes", Napi::Buffer<unsigned char>::Copy(env, r.bytes.data(), r.bytes.size()));
  }
  return o;
}

// ---- loop devices -----------------------------------------------------------

struct LoopReport {
  bool is_loop = false, attached = false;
  std::string file_name;
  unsigned long long offset = 0, size_limit = 0;
  bool read_only = false, autoclear = false, partscan = false;
};

Failure ProbeLoop(const std::string& path, LoopReport& out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Failure::FromErrno(errno, "loop", "open", path);
  struct stat st;
  Failure failure;
  if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode)) {
    loop_info64 info{};
    if (ioctl(fd, LOOP_GET_STATUS64, &info) == 0) {
      out.is_loop = out.attached = true;
      out.file_name.assign(reinterpret_cast<const char*>(info.lo_file_name),
                           strnlen(reinterpret_cast<const char*>(info.lo_file_name), LO_NAME_SIZE));
      out.offset = info.lo_offset;
      out.size_limit = info.lo_sizelimit;
      out.read_only = info.lo_flags & LO_FLAGS_READ_ONLY;
      out.autoclear = info.lo_flags & LO_FLAGS_AUTOCLEAR;
      out.partscan = info.lo_flags & LO_FLAGS_PARTSCAN;
    } else if (errno == ENXIO) {
      out.is_loop = true;  // a loop device with nothing attached
    } else if (errno != ENOTTY && errno != EINVAL) {
      failure = Failure::FromErrno(errno, "loop", "LOOP_GET_STATUS64", path);
    }
  }
  close(fd);
  return failure;
}

Napi::Value LoopToJs(Napi::Env env, LoopReport& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("isLoop", r.is_loop);
  o.Set("attached", r.attached);
  if (r.attached) {
    o.Set("fileName", r.file_name);
    o.Set("offset", Napi::Number::New(env, static_cast<double>(r.offset)));
    o.Set("sizeLimit", Napi::Number::New(env, static_cast<double>(r.size_limit)));
    o.Set("readOnly", r.read_only);
    o.Set("autoclear", r.autoclear);
    o.Set("partscan", r.partscan);
  }
  return o;
}

// ---- JS entry points ---------------------------------------------------------

bool ArgPath(const Napi::CallbackInfo& info, std::string& path) {
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(info.Env(), "path must be a string").ThrowAsJavaScriptException();
    return false;
  }
  path = info[0].As<Napi::String>().Utf8Value();
  return true;
}

double ArgNumber(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() > i && info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : 0;
}

template <typename T, typename Probe, typename ToJs>
Napi::Value PostProbe(const Napi::CallbackInfo& info, Probe probe, ToJs to_js) {
  std::string path;
  if (!ArgPath(info, path)) return info.Env().Undefined();
  auto work = [path, probe](T& out) { return probe(path, out); };
  return DiskThread(info.Env()).Post(std::make_unique<LambdaJob<T>>(info.Env(), work, to_js));
}

}  // namespace

Napi::Value PartedProbe(const Napi::CallbackInfo& info) {
  return PostProbe<PartedReport>(info, ProbeParted, PartedToJs);
}

// blkidProbe(path, offsetBytes, sizeBytes) — size 0 means to the end
Napi::Value BlkidProbe(const Napi::CallbackInfo& info) {
  auto offset = static_cast<long long>(ArgNumber(info, 1));
  auto size = static_cast<long long>(ArgNumber(info, 2));
  return PostProbe<BlkidReport>(
      info, [offset, size](const std::string& p, BlkidReport& r) { return ProbeBlkid(p, offset, size, r); },
      BlkidToJs);
}

// ext2Probe(path, offsetBytes)
Napi::Value Ext2Probe(const Napi::CallbackInfo& info) {
  auto offset = static_cast<long long>(ArgNumber(info, 1));
  return PostProbe<Ext2Report>(
      info, [offset](const std::string& p, Ext2Report& r) { return ProbeExt2(p, offset, r); }, Ext2ToJs);
}

// readArea(path, offsetBytes, lengthBytes): at most 1 MiB, short at the end of the disk.
Napi::Value ReadAreaProbe(const Napi::CallbackInfo& info) {
  auto offset = static_cast<long long>(ArgNumber(info, 1));
  auto length = static_cast<long long>(ArgNumber(info, 2));
  if (offset < 0 || length <= 0 || length > (1 << 20)) {
    Napi::RangeError::New(info.Env(), "offset must be >= 0 and length in 1..1048576")
        .ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  return PostProbe<AreaReport>(
      info, [offset, length](const std::string& p, AreaReport& r) { return ReadArea(p, offset, length, r); },
      AreaToJs);
}

// ext2ReadFile(path, offsetBytes, fileName, maxBytes, fileOffset): a regular file of an
// ext2/3/4 filesystem, at most 1 MiB of it from fileOffset; fileName is relative to its root.
Napi::Value Ext2ReadFile(const Napi::CallbackInfo& info) {
  auto offset = static_cast<long long>(ArgNumber(info, 1));
  auto limit = static_cast<long long>(ArgNumber(info, 3));
  auto file_offset = static_cast<long long>(ArgNumber(info, 4));
  if (info.Length() < 3 || !info[2].IsString()) {
    Napi::TypeError::New(info.Env(), "fileName must be a string").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  std::string name = info[2].As<Napi::String>().Utf8Value();
  if (offset < 0 || limit <= 0 || limit > (1 << 20) || file_offset < 0 || name.empty() ||
      name.size() > 4096 || name.find('\0') != std::string::npos) {
    Napi::RangeError::New(
        info.Env(), "offset and fileOffset must be >= 0, maxBytes in 1..1048576, fileName 1..4096 bytes")
        .ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  return PostProbe<FileReport>(
      info,
      [offset, name, limit, file_offset](const std::string& p, FileReport& r) {
        return ReadExt2File(p, offset, name, limit, file_offset, r);
      },
      FileToJs);
}

// crc32c(buffer, seed): libext2fs's CRC32C, no final inversion (as ext4, jbd2, xfs and btrfs start it).
Napi::Value Crc32c(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || !info[0].IsBuffer() || !info[1].IsNumber()) {
    Napi::TypeError::New(info.Env(), "crc32c(buffer, seed)").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  auto buf = info[0].As<Napi::Buffer<unsigned char>>();
  uint32_t seed = info[1].As<Napi::Number>().Uint32Value();
  return Napi::Number::New(info.Env(), ext2fs_crc32c_le(seed, buf.Data(), buf.Length()));
}

Napi::Value LoopProbe(const Napi::CallbackInfo& info) {
  return PostProbe<LoopReport>(info, ProbeLoop, LoopToJs);
}

// Whether the disk thread managed to give up write permission (root only).
Napi::Value DiskThreadReadOnly(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), g_read_only_thread_ok);
}

bool PartedLibraryLoaded(std::string& reason) {
  LoadState state;
  LoadParted(&state);
  reason = state.error;
  return state.loaded;
}

}  // namespace vmbf
