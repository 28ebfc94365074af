// Per-environment state (main thread and each worker thread get their own): the
// injected JS error class and the library threads. Nothing static holds JS values.
#pragma once

#include <napi.h>

#include <memory>

#include "failure.h"

namespace vmbf {

class WorkThread;

struct AddonData {
  Napi::FunctionReference error_class;
  std::unique_ptr<WorkThread> disk_thread;     // libparted, libext2fs, libblkid, loop ioctls
  std::unique_ptr<WorkThread> xenstat_thread;  // libxenstat
  Napi::FunctionReference xenstore_ctor;
  ~AddonData();

  static AddonData* Get(Napi::Env env) { return env.GetInstanceData<AddonData>(); }
};

// Builds an instance of the injected error class (plain Error before init).
Napi::Value MakeError(Napi::Env env, const Failure& failure);

}  // namespace vmbf
