// libxenstat: a node snapshot copied into plain objects. The library keeps a
// static path buffer (not thread-safe), so every call holds one process-wide
// lock, and runs on the environment's xenstat thread.
#include <napi.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xenstat.h>

#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "addon_data.h"
#include "dynamic_library.h"
#include "work_thread.h"

namespace vmbf {
namespace {

constexpr const char* kLib = "xenstat";

// clang-format off
#define VMBF_XENSTAT_SYMBOLS(X) \
  X(xenstat_init) \
  X(xenstat_uninit) \
  X(xenstat_get_node) \
  X(xenstat_free_node) \
  X(xenstat_node_tot_mem) \
  X(xenstat_node_free_mem) \
  X(xenstat_node_num_cpus) \
  X(xenstat_node_num_domains) \
  X(xenstat_node_domain_by_index) \
  X(xenstat_domain_id) \
  X(xenstat_domain_name) \
  X(xenstat_domain_cpu_ns) \
  X(xenstat_domain_num_vcpus) \
  X(xenstat_domain_cur_mem) \
  X(xenstat_domain_max_mem) \
  X(xenstat_domain_dying) \
  X(xenstat_domain_crashed) \
  X(xenstat_domain_shutdown) \
  X(xenstat_domain_paused) \
  X(xenstat_domain_blocked) \
  X(xenstat_domain_running) \
  X(xenstat_domain_num_vbds) \
  X(xenstat_domain_vbd) \
  X(xenstat_vbd_type) \
  X(xenstat_vbd_dev) \
  X(xenstat_vbd_oo_reqs) \
  X(xenstat_vbd_rd_reqs) \
  X(xenstat_vbd_wr_reqs) \
  X(xenstat_vbd_rd_sects) \
  X(xenstat_vbd_wr_sects) \
  X(xenstat_vbd_error)
// clang-format on
VMBF_LIBRARY(XenStatApi, VMBF_XENSTAT_SYMBOLS)

const XenStatApi* LoadXenStat(LoadState* state) {
  return LoadLibraryOnce<XenStatApi>("libxenstat.so.4.17", "libxenmisc4.17", state);
}

std::mutex g_xenstat_mutex;          // guards every libxenstat call in the process
xenstat_handle* g_handle = nullptr;  // kept open between snapshots; reset on failure

struct Vbd {
  unsigned dev, type;
  bool error;
  unsigned long long oo, rd, wr, rd_sect, wr_sect;
};
struct Domain {
  unsigned id;
  std::string name;
  bool running, blocked, paused, shutdown, crashed, dying;
  unsigned long long cur_mem, max_mem, cpu_ns;
  unsigned vcpus;
  std::vector<Vbd> vbds;
};
struct Snapshot {
  std::string printed;  // what libxenstat wrote to stderr during the sample
  unsigned long long tot_mem = 0, free_mem = 0;
  unsigned num_cpus = 0;
  std::vector<Domain> domains;
};

// xenstat_init prints to fd 2 on a non-Xen host. That text belongs in the error,
// not on the user's terminal, so fd 2 points at a memfd for the duration.
class StderrCapture {
 public:
  StderrCapture() {
    fflush(stderr);
    memfd_ = memfd_create("vmbootfail-xenstat-stderr", MFD_CLOEXEC);
    saved_ = dup(2);
    if (memfd_ >= 0 && saved_ >= 0) dup2(memfd_, 2);
  }
  std::string Finish() {
    fflush(stderr);
    if (saved_ >= 0) {
      dup2(saved_, 2);
      close(saved_);
      saved_ = -1;
    }
    std::string text;
    if (memfd_ >= 0) {
      char buf[4096];
      ssize_t n = pread(memfd_, buf, sizeof buf, 0);
      if (n > 0) text.assign(buf, static_cast<size_t>(n));
      close(memfd_);
      memfd_ = -1;
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    for (char& c : text) {
      if (c == '\n') c = ';';
    }
    return text;
  }
  ~StderrCapture() { Finish(); }

 private:
  int memfd_ = -1;
  int saved_ = -1;
};

Failure TakeSnapshot(unsigned flags, Snapshot& out) {
  LoadState load;
  const XenStatApi* api = LoadXenStat(&load);
  if (!api) {
    return Failure::Of("ERR_LIB_UNAVAILABLE", kLib, "dlopen", "libxenstat unavailable: " + load.error);
  }
  std::lock_guard<std::mutex> lock(g_xenstat_mutex);
  if (!g_handle) {
    StderrCapture capture;
    errno = 0;
    g_handle = api->xenstat_init();
    int err = errno;
    std::string printed = capture.Finish();
    if (!g_handle) {
      // errno is unreliable after a failed xenstat_init; the printed text is the evidence.
      Failure f = Failure::Of("ERR_XENSTAT_INIT", kLib, "xenstat_init",
                              "xenstat_init failed (is this a Xen dom0 with privcmd?)");
      f.err = err;
      if (!printed.empty()) f.message += ": " + printed;
      return f;
    }
  }
  // get_node prints "Found interface vbd-N-D but domain N does not exist" for
  // every orphaned backend, on every sample: keep it off the user's terminal.
  StderrCapture capture;
  xenstat_node* node = api->xenstat_get_node(g_handle, flags);
  out.printed = capture.Finish();
  if (!node) {
    int err = errno;
    api->xenstat_uninit(g_handle);  // a dead xenstored leaves the handle unusable
    g_handle = nullptr;
    return Failure::FromErrno(err, kLib, "xenstat_get_node");
  }
  out.tot_mem = api->xenstat_node_tot_mem(node);
  out.free_mem = api->xenstat_node_free_mem(node);
  out.num_cpus = api->xenstat_node_num_cpus(node);
  unsigned n = api->xenstat_node_num_domains(node);
  out.domains.reserve(n);
  for (unsigned i = 0; i < n; ++i) {
    xenstat_domain* d = api->xenstat_node_domain_by_index(node, i);
    if (!d) continue;
    Domain dom;
    dom.id = api->xenstat_domain_id(d);
    const char* name = api->xenstat_domain_name(d);
    dom.name = name ? name : "";
    dom.running = api->xenstat_domain_running(d);
    dom.blocked = api->xenstat_domain_blocked(d);
    dom.paused = api->xenstat_domain_paused(d);
    dom.shutdown = api->xenstat_domain_shutdown(d);
    dom.crashed = api->xenstat_domain_crashed(d);
    dom.dying = api->xenstat_domain_dying(d);
    dom.cur_mem = api->xenstat_domain_cur_mem(d);
    dom.max_mem = api->xenstat_domain_max_mem(d);
    dom.cpu_ns = api->xenstat_domain_cpu_ns(d);
    dom.vcpus = api->xenstat_domain_num_vcpus(d);
    if (flags & XENSTAT_VBD) {
      unsigned nv = api->xenstat_domain_num_vbds(d);
      for (unsigned j = 0; j < nv; ++j) {
        xenstat_vbd* v = api->xenstat_domain_vbd(d, j);
        if (!v) continue;
        Vbd vbd{};
        vbd.dev = api->xenstat_vbd_dev(v);
        vbd.type = api->xenstat_vbd_type(v);
        vbd.error = api->xenstat_vbd_error(v);
        if (!vbd.error) {  // counters of an error VBD are garbage
          vbd.oo = api->xenstat_vbd_oo_reqs(v);
          vbd.rd = api->xenstat_vbd_rd_reqs(v);
          vbd.wr = api->xenstat_vbd_wr_reqs(v);
          vbd.rd_sect = api->xenstat_vbd_rd_sects(v);
          vbd.wr_sect = api->xenstat_vbd_wr_sects(v);
        }
        dom.vbds.push_back(vbd);
      }
    }
    out.domains.push_back(std::move(dom));
  }
  api->xenstat_free_node(node);
  return Failure{};
}

Napi::Value SnapshotToJs(Napi::Env env, Snapshot& s) {
  Napi::Object node = Napi::Object::New(env);
  node.Set("totalMemory", Napi::Number::New(env, static_cast<double>(s.tot_mem)));
  node.Set("freeMemory", Napi::Number::New(env, static_cast<double>(s.free_mem)));
  node.Set("cpus", s.num_cpus);
  Napi::Array domains = Napi::Array::New(env, s.domains.size());
  for (size_t i = 0; i < s.domains.size(); ++i) {
    const Domain& d = s.domains[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", d.id);
    o.Set("name", d.name);
    o.Set("running", d.running);
    o.Set("blocked", d.blocked);
    o.Set("paused", d.paused);
    o.Set("shutdown", d.shutdown);
    o.Set("crashed", d.crashed);
    o.Set("dying", d.dying);
    o.Set("memory", Napi::Number::New(env, static_cast<double>(d.cur_mem)));
    o.Set("maxMemory", Napi::Number::New(env, static_cast<double>(d.max_mem)));
    o.Set("cpuNs", Napi::Number::New(env, static_cast<double>(d.cpu_ns)));
    o.Set("vcpus", d.vcpus);
    Napi::Array vbds = Napi::Array::New(env, d.vbds.size());
    for (size_t j = 0; j < d.vbds.size(); ++j) {
      const Vbd& v = d.vbds[j];
      Napi::Object vo = Napi::Object::New(env);
      vo.Set("device", v.dev);
      vo.Set("type", v.type);
      vo.Set("error", v.error);
      if (!v.error) {
        vo.Set("ooRequests", Napi::Number::New(env, static_cast<double>(v.oo)));
        vo.Set("readRequests", Napi::Number::New(env, static_cast<double>(v.rd)));
        vo.Set("writeRequests", Napi::Number::New(env, static_cast<double>(v.wr)));
        vo.Set("readSectors", Napi::Number::New(env, static_cast<double>(v.rd_sect)));
        vo.Set("writeSectors", Napi::Number::New(env, static_cast<double>(v.wr_sect)));
      }
      vbds.Set(j, vo);
    }
    o.Set("vbds", vbds);
    domains.Set(i, o);
  }
  node.Set("domains", domains);
  node.Set("libraryOutput", s.printed);
  return node;
}

}  // namespace

// xenstatSnapshot(withVbds: boolean) -> Promise<snapshot>
Napi::Value XenStatSnapshot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  unsigned flags = XENSTAT_VCPU;
  // Not ToBoolean(): coercion needs a live JS engine, and a terminating worker has none.
  if (info.Length() < 1 || !info[0].IsBoolean() || info[0].As<Napi::Boolean>().Value()) flags |= XENSTAT_VBD;
  AddonData* data = AddonData::Get(env);
  if (!data->xenstat_thread) data->xenstat_thread = std::make_unique<WorkThread>(env, "xenstat");
  auto work = [flags](Snapshot& out) { return TakeSnapshot(flags, out); };
  return data->xenstat_thread->Post(std::make_unique<LambdaJob<Snapshot>>(env, work, SnapshotToJs));
}

bool XenStatLibraryLoaded(std::string& reason) {
  LoadState state;
  LoadXenStat(&state);
  reason = state.error;
  return state.loaded;
}

}  // namespace vmbf
