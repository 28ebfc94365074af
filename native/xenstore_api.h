#pragma once

#include <xenstore.h>

#include "dynamic_library.h"

namespace vmbf {

// clang-format off
#define VMBF_XENSTORE_SYMBOLS(X) \
  X(xs_open) \
  X(xs_close) \
  X(xs_read) \
  X(xs_write) \
  X(xs_mkdir) \
  X(xs_rm) \
  X(xs_directory) \
  X(xs_watch) \
  X(xs_unwatch) \
  X(xs_fileno) \
  X(xs_check_watch) \
  X(xs_transaction_start) \
  X(xs_transaction_end) \
  X(xs_get_domain_path)
// clang-format on
VMBF_LIBRARY(XenStoreApi, VMBF_XENSTORE_SYMBOLS)

inline const XenStoreApi* LoadXenStore(LoadState* state = nullptr) {
  return LoadLibraryOnce<XenStoreApi>("libxenstore.so.4", "libxenstore4", state);
}

}  // namespace vmbf
