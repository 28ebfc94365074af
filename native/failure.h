// A failed library call, captured on a library thread and turned into a typed JS
// error on the JS thread. Plain data: nothing here touches napi.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>

namespace vmbf {

struct Failure {
  bool failed = false;
  std::string code;  // errno name ("ENOENT") or one of ours ("ERR_LIB_UNAVAILABLE")
  int err = 0;       // errno value, 0 when not errno-based
  std::string lib;   // "xenstore", "xenstat", "parted", "ext2fs", "blkid", "loop"
  std::string op;    // the C function or step that failed
  std::string message;
  std::string path;

  static Failure FromErrno(int err, std::string lib, std::string op, std::string path = "",
                           std::string detail = "");
  static Failure Of(std::string code, std::string lib, std::string op, std::string message,
                    std::string path = "");
};

inline const char* ErrnoName(int err) {
  const char* name = err ? strerrorname_np(err) : nullptr;
  return name ? name : "EUNKNOWN";
}

inline Failure Failure::FromErrno(int err, std::string lib, std::string op, std::string path,
                                  std::string detail) {
  Failure f;
  f.failed = true;
  f.err = err;
  f.code = ErrnoName(err);
  f.lib = std::move(lib);
  f.op = std::move(op);
  f.path = std::move(path);
  f.message = f.op + ": " + (err ? std::strerror(err) : "failed");
  if (!f.path.empty()) f.message += " (" + f.path + ")";
  if (!detail.empty()) f.message += ": " + detail;
  return f;
}

inline Failure Failure::Of(std::string code, std::string lib, std::string op, std::string message,
                           std::string path) {
  Failure f;
  f.failed = true;
  f.code = std::move(code);
  f.lib = std::move(lib);
  f.op = std::move(op);
  f.message = std::move(message);
  f.path = std::move(path);
  return f;
}

}  // namespace vmbf
