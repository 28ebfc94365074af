// Module entry: per-environment data, the injected error class, and exports.
#include <napi.h>

#include "addon_data.h"
#include "work_thread.h"
#include "xenstore_api.h"

namespace vmbf {

Napi::Function DefineXenStoreHandle(Napi::Env env);
Napi::Value XenStatSnapshot(const Napi::CallbackInfo& info);
bool XenStatLibraryLoaded(std::string& reason);
Napi::Value PartedProbe(const Napi::CallbackInfo& info);
Napi::Value BlkidProbe(const Napi::CallbackInfo& info);
Napi::Value Ext2Probe(const Napi::CallbackInfo& info);
Napi::Value LoopProbe(const Napi::CallbackInfo& info);
Napi::Value ReadAreaProbe(const Napi::CallbackInfo& info);
Napi::Value Crc32c(const Napi::CallbackInfo& info);
Napi::Value Ext2ReadFile(const Napi::CallbackInfo& info);
Napi::Value DiskThreadReadOnly(const Napi::CallbackInfo& info);
bool PartedLibraryLoaded(std::string& reason);

AddonData::~AddonData() = default;

Napi::Value MakeError(Napi::Env env, const Failure& f) {
  Napi::Object details = Napi::Object::New(env);
  details.Set("code", f.code);
  if (f.err) details.Set("errno", f.err);
  details.Set("lib", f.lib);
  details.Set("op", f.op);
  if (!f.path.empty()) details.Set("path", f.path);
  AddonData* data = AddonData::Get(env);
  if (data && !data->error_class.IsEmpty()) {
    return data->error_class.New({Napi::String::New(env, f.message), details});
  }
  Napi::Error error = Napi::Error::New(env, f.message);
  for (const auto& key : {"code", "errno", "lib", "op", "path"}) {
    if (details.Has(key)) error.Value().Set(key, details.Get(key));
  }
  return error.Value();
}

namespace {

// setErrorClass(cls): native errors become `new cls(message, details)`.
Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction()) {
    Napi::TypeError::New(info.Env(), "setErrorClass(cls): a constructor expected")
        .ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  AddonData::Get(info.Env())->error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// libraryStatus(): which shared libraries could be opened, and why not.
Napi::Value LibraryStatus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  auto put = [&](const char* name, bool ok, const std::string& reason) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("loaded", ok);
    if (!ok) o.Set("reason", reason);
    out.Set(name, o);
  };
  LoadState xs;
  LoadXenStore(&xs);
  put("xenstore", xs.loaded, xs.error);
  std::string reason;
  bool ok = XenStatLibraryLoaded(reason);
  put("xenstat", ok, reason);
  ok = PartedLibraryLoaded(reason);
  put("parted", ok, reason);
  put("ext2fs", true, "");
  put("blkid", true, "");
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass));
  exports.Set("libraryStatus", Napi::Function::New(env, LibraryStatus));
  exports.Set("XenStoreHandle", DefineXenStoreHandle(env));
  exports.Set("xenstatSnapshot", Napi::Function::New(env, XenStatSnapshot));
  exports.Set("partedProbe", Napi::Function::New(env, PartedProbe));
  exports.Set("blkidProbe", Napi::Function::New(env, BlkidProbe));
  exports.Set("ext2Probe", Napi::Function::New(env, Ext2Probe));
  exports.Set("loopProbe", Napi::Function::New(env, LoopProbe));
  exports.Set("readArea", Napi::Function::New(env, ReadAreaProbe));
  exports.Set("crc32c", Napi::Function::New(env, Crc32c));
  exports.Set("ext2ReadFile", Napi::Function::New(env, Ext2ReadFile));
  exports.Set("diskThreadReadOnly", Napi::Function::New(env, DiskThreadReadOnly));
  return exports;
}

}  // namespace
}  // namespace vmbf

static Napi::Object InitVmbootfail(Napi::Env env, Napi::Object exports) {
  return vmbf::Init(env, exports);
}

NODE_API_MODULE(vmbootfail, InitVmbootfail)
