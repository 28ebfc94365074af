// The Xen and parted libraries are opened at first use, not linked: the addon
// must load on hosts without Xen (the disk part still works), and loading
// libparted runs `sh -c dmidecode`, which a xenstore-only user should not pay.
#pragma once

#include <dlfcn.h>

#include <mutex>
#include <string>

namespace vmbf {

// Declares a struct of function pointers typed from the real prototypes.
#define VMBF_DECLARE_SYMBOL(name) decltype(&::name) name = nullptr;
#define VMBF_RESOLVE_SYMBOL(name)                                       \
  name = reinterpret_cast<decltype(&::name)>(dlsym(handle, #name));     \
  if (!name) {                                                          \
    error = std::string("symbol ") + #name + " missing from " + soname; \
    return false;                                                       \
  }

#define VMBF_LIBRARY(Type, SYMBOLS)                                      \
  struct Type {                                                          \
    SYMBOLS(VMBF_DECLARE_SYMBOL)                                         \
    bool Resolve(void* handle, const char* soname, std::string& error) { \
      SYMBOLS(VMBF_RESOLVE_SYMBOL)                                       \
      return true;                                                       \
    }                                                                    \
  };

struct LoadState {
  bool loaded = false;
  std::string error;  // why it is unavailable
};

// Opens soname once per process and resolves Api. Thread-safe.
template <typename Api>
const Api* LoadLibraryOnce(const char* soname, const char* debian_package, LoadState* state_out) {
  static std::once_flag once;
  static Api api;
  static LoadState state;
  std::call_once(once, [&] {
    void* handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      state.error = std::string(dlerror()) + " (install the Debian package " + debian_package + ")";
      return;
    }
    state.loaded = api.Resolve(handle, soname, state.error);
  });
  if (state_out) *state_out = state;
  return state.loaded ? &api : nullptr;
}

}  // namespace vmbf
