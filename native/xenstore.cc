// libxenstore: one connection per XenStoreHandle, each with its own thread
// (xs_* calls block on the daemon). Watch events arrive through uv_poll on
// xs_fileno() in this environment's loop, drained until EAGAIN.
#include <napi.h>
#include <uv.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "addon_data.h"
#include "work_thread.h"
#include "xenstore_api.h"

namespace vmbf {
namespace {

constexpr const char* kLib = "xenstore";

// The xs_handle is shared with jobs still queued when the JS object goes away.
struct Connection {
  const XenStoreApi* api = nullptr;
  struct xs_handle* xs = nullptr;
  ~Connection() {
    if (xs) api->xs_close(xs);
  }
};

class XenStoreHandle : public Napi::ObjectWrap<XenStoreHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "XenStoreHandle",
                       {
                           InstanceMethod<&XenStoreHandle::Open>("open"),
                           InstanceMethod<&XenStoreHandle::Read>("read"),
                           InstanceMethod<&XenStoreHandle::Directory>("directory"),
                           InstanceMethod<&XenStoreHandle::Write>("write"),
                           InstanceMethod<&XenStoreHandle::Mkdir>("mkdir"),
                           InstanceMethod<&XenStoreHandle::Rm>("rm"),
                           InstanceMethod<&XenStoreHandle::GetDomainPath>("getDomainPath"),
                           InstanceMethod<&XenStoreHandle::TransactionStart>("transactionStart"),
                           InstanceMethod<&XenStoreHandle::TransactionEnd>("transactionEnd"),
                           InstanceMethod<&XenStoreHandle::Watch>("watch"),
                           InstanceMethod<&XenStoreHandle::Unwatch>("unwatch"),
                           InstanceMethod<&XenStoreHandle::Close>("close"),
                           InstanceMethod<&XenStoreHandle::RefPoll>("ref"),
                           InstanceMethod<&XenStoreHandle::UnrefPoll>("unref"),
                       });
  }

  // new XenStoreHandle(onWatch(path, token), onWatchError(err))
  explicit XenStoreHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<XenStoreHandle>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsFunction() || !info[1].IsFunction()) {
      Napi::TypeError::New(env, "XenStoreHandle(onWatch, onWatchError): two functions expected")
          .ThrowAsJavaScriptException();
      return;
    }
    on_watch_ = Napi::Persistent(info[0].As<Napi::Function>());
    on_watch_error_ = Napi::Persistent(info[1].As<Napi::Function>());
    connection_ = std::make_shared<Connection>();
    thread_ = std::make_unique<WorkThread>(env, "xenstore");
    napi_add_env_cleanup_hook(env, OnEnvTeardown, this);
  }

  ~XenStoreHandle() override {
    napi_remove_env_cleanup_hook(Env(), OnEnvTeardown, this);
    StopPoll();
  }

 private:
  static void OnEnvTeardown(void* self) { static_cast<XenStoreHandle*>(self)->StopPoll(); }

  using Strings = std::vector<std::string>;

  // Keeps the JS object alive until the job settles: its callbacks use `this`.
  template <typename T>
  class HandleJob : public LambdaJob<T> {
   public:
    HandleJob(XenStoreHandle* owner, Napi::Env env, typename LambdaJob<T>::Work work,
              typename LambdaJob<T>::ToJs to_js)
        : LambdaJob<T>(env, std::move(work), std::move(to_js)), owner_(owner) {
      owner_->Ref();
    }
    void Settle(Napi::Env env) override {
      LambdaJob<T>::Settle(env);
      owner_->Unref();
    }

   private:
    XenStoreHandle* owner_;
  };

  template <typename T>
  Napi::Value Post(Napi::Env env, typename LambdaJob<T>::Work work, typename LambdaJob<T>::ToJs to_js) {
    return thread_->Post(std::make_unique<HandleJob<T>>(this, env, std::move(work), std::move(to_js)));
  }

  // Runs fn(connection) on the connection's thread. fn must not touch `this`.
  template <typename T>
  Napi::Value Submit(Napi::Env env, std::function<Failure(Connection&, T&)> fn,
                     typename LambdaJob<T>::ToJs to_js) {
    if (closed_) return Rejected(env, "ERR_CLOSED", "the xenstore connection is closed");
    if (!opened_) return Rejected(env, "ERR_NOT_OPEN", "open() has not completed");
    std::shared_ptr<Connection> conn = connection_;
    auto work = [conn, fn](T& out) { return fn(*conn, out); };
    return Post<T>(env, work, to_js);
  }

  Napi::Value Rejected(Napi::Env env, const char* code, const char* message) {
    return RejectedPromise(env, Failure::Of(code, kLib, "call", message));
  }

  static bool ArgString(const Napi::CallbackInfo& info, size_t i, std::string& out) {
    if (info.Length() <= i || !info[i].IsString()) {
      Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a string")
          .ThrowAsJavaScriptException();
      return false;
    }
    out = info[i].As<Napi::String>().Utf8Value();
    return true;
  }

  static bool ArgUint32(const Napi::CallbackInfo& info, size_t i, uint32_t& out) {
    if (info.Length() <= i || !info[i].IsNumber()) {
      Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a number")
          .ThrowAsJavaScriptException();
      return false;
    }
    out = info[i].As<Napi::Number>().Uint32Value();
    return true;
  }

  Napi::Value Open(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_) return Rejected(env, "ERR_CLOSED", "the xenstore connection is closed");
    if (opening_) return Rejected(env, "ERR_ALREADY_OPEN", "open() was already called");
    LoadState load;
    const XenStoreApi* api = LoadXenStore(&load);
    if (!api) {
      return Rejected(env, "ERR_LIB_UNAVAILABLE", ("libxenstore unavailable: " + load.error).c_str());
    }
    opening_ = true;
    connection_->api = api;
    std::shared_ptr<Connection> conn = connection_;
    auto work = [conn](bool&) {
      conn->xs = conn->api->xs_open(0);
      if (!conn->xs) {
        const char* path = std::getenv("XENSTORED_PATH");
        return Failure::FromErrno(errno, kLib, "xs_open", path ? path : "");
      }
      return Failure{};
    };
    auto to_js = [this](Napi::Env e, bool&) {
      opened_ = true;
      return e.Undefined();
    };
    return Post<bool>(env, work, to_js);
  }

  // read(tx, path) -> Buffer | null (ENOENT)
  Napi::Value Read(const Napi::CallbackInfo& info) {
    uint32_t tx;
    std::string path;
    if (!ArgUint32(info, 0, tx) || !ArgString(info, 1, path)) return info.Env().Undefined();
    struct Value {
      bool found = false;
      std::string bytes;
    };
    std::function<Failure(Connection&, Value&)> fn = [tx, path](Connection& c, Value& out) {
      unsigned int len = 0;
      void* data = c.api->xs_read(c.xs, tx, path.c_str(), &len);
      if (!data) {
        if (errno == ENOENT) return Failure{};
        return Failure::FromErrno(errno, kLib, "xs_read", path);
      }
      out.found = true;
      out.bytes.assign(static_cast<char*>(data), len);
      free(data);
      return Failure{};
    };
    return Submit<Value>(info.Env(), fn, [](Napi::Env e, Value& v) -> Napi::Value {
      if (!v.found) return e.Null();
      return Napi::Buffer<char>::Copy(e, v.bytes.data(), v.bytes.size());
    });
  }

  // directory(tx, path) -> string[] | null (ENOENT)
  Napi::Value Directory(const Napi::CallbackInfo& info) {
    uint32_t tx;
    std::string path;
    if (!ArgUint32(info, 0, tx) || !ArgString(info, 1, path)) return info.Env().Undefined();
    struct Listing {
      bool found = false;
      Strings names;
    };
    std::function<Failure(Connection&, Listing&)> fn = [tx, path](Connection& c, Listing& out) {
      unsigned int n = 0;
      char** names = c.api->xs_directory(c.xs, tx, path.c_str(), &n);
      if (!names) {
        if (errno == ENOENT) return Failure{};
        return Failure::FromErrno(errno, kLib, "xs_directory", path);
      }
      out.found = true;
      out.names.assign(names, names + n);
      free(names);  // one allocation holds the array and the strings
      return Failure{};
    };
    return Submit<Listing>(info.Env(), fn, [](Napi::Env e, Listing& l) -> Napi::Value {
      if (!l.found) return e.Null();
      Napi::Array arr = Napi::Array::New(e, l.names.size());
      for (size_t i = 0; i < l.names.size(); ++i) arr.Set(i, l.names[i]);
      return arr;
    });
  }

  // write(tx, path, Buffer)
  Napi::Value Write(const Napi::CallbackInfo& info) {
    uint32_t tx;
    std::string path;
    if (!ArgUint32(info, 0, tx) || !ArgString(info, 1, path)) return info.Env().Undefined();
    if (info.Length() < 3 || !info[2].IsBuffer()) {
      Napi::TypeError::New(info.Env(), "argument 2 must be a Buffer").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    auto buf = info[2].As<Napi::Buffer<char>>();
    std::string bytes(buf.Data(), buf.Length());  // copied: the JS buffer may change meanwhile
    std::function<Failure(Connection&, bool&)> fn = [tx, path, bytes](Connection& c, bool&) {
      if (!c.api->xs_write(c.xs, tx, path.c_str(), bytes.data(), bytes.size())) {
        return Failure::FromErrno(errno, kLib, "xs_write", path);
      }
      return Failure{};
    };
    return Submit<bool>(info.Env(), fn, [](Napi::Env e, bool&) { return e.Undefined(); });
  }

  Napi::Value PathOp(const Napi::CallbackInfo& info, const char* op,
                     bool (*XenStoreApi::*call)(struct xs_handle*, xs_transaction_t, const char*)) {
    uint32_t tx;
    std::string path;
    if (!ArgUint32(info, 0, tx) || !ArgString(info, 1, path)) return info.Env().Undefined();
    std::function<Failure(Connection&, bool&)> fn = [tx, path, op, call](Connection& c, bool&) {
      if (!(c.api->*call)(c.xs, tx, path.c_str())) {
        return Failure::FromErrno(errno, kLib, op, path);
      }
      return Failure{};
    };
    return Submit<bool>(info.Env(), fn, [](Napi::Env e, bool&) { return e.Undefined(); });
  }

  Napi::Value Mkdir(const Napi::CallbackInfo& info) {
    return PathOp(info, "xs_mkdir", &XenStoreApi::xs_mkdir);
  }
  Napi::Value Rm(const Napi::CallbackInfo& info) { return PathOp(info, "xs_rm", &XenStoreApi::xs_rm); }

  Napi::Value GetDomainPath(const Napi::CallbackInfo& info) {
    uint32_t domid;
    if (!ArgUint32(info, 0, domid)) return info.Env().Undefined();
    std::function<Failure(Connection&, std::string&)> fn = [domid](Connection& c, std::string& out) {
      char* path = c.api->xs_get_domain_path(c.xs, domid);
      if (!path) return Failure::FromErrno(errno, kLib, "xs_get_domain_path");
      out = path;
      free(path);
      return Failure{};
    };
    return Submit<std::string>(info.Env(), fn,
                               [](Napi::Env e, std::string& s) { return Napi::String::New(e, s); });
  }

  Napi::Value TransactionStart(const Napi::CallbackInfo& info) {
    std::function<Failure(Connection&, uint32_t&)> fn = [](Connection& c, uint32_t& out) {
      out = c.api->xs_transaction_start(c.xs);
      if (out == XBT_NULL) return Failure::FromErrno(errno, kLib, "xs_transaction_start");
      return Failure{};
    };
    return Submit<uint32_t>(info.Env(), fn,
                            [](Napi::Env e, uint32_t& tx) { return Napi::Number::New(e, tx); });
  }

  // transactionEnd(tx, abort) -> true committed / false EAGAIN (caller retries)
  Napi::Value TransactionEnd(const Napi::CallbackInfo& info) {
    uint32_t tx;
    if (!ArgUint32(info, 0, tx)) return info.Env().Undefined();
    bool abort = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
    std::function<Failure(Connection&, bool&)> fn = [tx, abort](Connection& c, bool& committed) {
      committed = c.api->xs_transaction_end(c.xs, tx, abort);
      if (!committed && errno != EAGAIN) {
        return Failure::FromErrno(errno, kLib, "xs_transaction_end");
      }
      return Failure{};
    };
    return Submit<bool>(info.Env(), fn, [](Napi::Env e, bool& ok) { return Napi::Boolean::New(e, ok); });
  }

  Napi::Value WatchOp(const Napi::CallbackInfo& info, bool add) {
    std::string path, token;
    if (!ArgString(info, 0, path) || !ArgString(info, 1, token)) return info.Env().Undefined();
    const char* op = add ? "xs_watch" : "xs_unwatch";
    std::function<Failure(Connection&, int&)> fn = [path, token, add, op](Connection& c, int& fd) {
      const XenStoreApi* api = c.api;
      bool ok = add ? api->xs_watch(c.xs, path.c_str(), token.c_str())
                    : api->xs_unwatch(c.xs, path.c_str(), token.c_str());
      if (!ok) return Failure::FromErrno(errno, kLib, op, path);
      fd = add ? api->xs_fileno(c.xs) : -1;
      if (add && fd < 0) return Failure::FromErrno(errno, kLib, "xs_fileno");
      return Failure{};
    };
    return Submit<int>(info.Env(), fn, [this](Napi::Env e, int& fd) {
      if (fd >= 0) StartPoll(e, fd);
      return e.Undefined();
    });
  }

  Napi::Value Watch(const Napi::CallbackInfo& info) { return WatchOp(info, true); }
  Napi::Value Unwatch(const Napi::CallbackInfo& info) { return WatchOp(info, false); }

  void StartPoll(Napi::Env env, int fd) {
    if (poll_ || closed_) return;
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) return;
    poll_ = new uv_poll_t;
    poll_->data = this;
    uv_poll_init(loop, poll_, fd);
    uv_poll_start(poll_, UV_READABLE, OnReadable);
    if (!poll_referenced_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  }

  void StopPoll() {
    if (!poll_) return;
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }

  static void OnReadable(uv_poll_t* poll, int status, int) {
    auto* self = static_cast<XenStoreHandle*>(poll->data);
    self->DrainWatches(status);
  }

  void DrainWatches(int status) {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (status < 0) {
      ReportWatchError(env, Failure::Of("ERR_WATCH_POLL", kLib, "uv_poll", uv_strerror(status)));
      return;
    }
    const XenStoreApi* api = connection_->api;
    for (;;) {
      char** event = api->xs_check_watch(connection_->xs);
      if (!event) {
        if (errno != EAGAIN) {
          ReportWatchError(
              env, Failure::FromErrno(errno, kLib, "xs_check_watch", "", "the watch connection is broken"));
        }
        return;
      }
      Napi::String path = Napi::String::New(env, event[XS_WATCH_PATH]);
      Napi::String token = Napi::String::New(env, event[XS_WATCH_TOKEN]);
      free(event);
      on_watch_.MakeCallback(Value(), {path, token});
      if (RethrowToProcess(env) || !poll_) return;  // a listener threw, or closed us
    }
  }

  void ReportWatchError(Napi::Env env, const Failure& failure) {
    StopPoll();
    on_watch_error_.MakeCallback(Value(), {MakeError(env, failure)});
    RethrowToProcess(env);
  }

  // A listener that throws from a libuv callback has no JS caller: hand the
  // exception to process 'uncaughtException', as an EventEmitter would.
  static bool RethrowToProcess(Napi::Env env) {
    if (!env.IsExceptionPending()) return false;
    Napi::Error error = env.GetAndClearPendingException();
    napi_fatal_exception(env, error.Value());
    return true;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_) {
      SafeDeferred deferred(env);
      deferred.Resolve(env.Undefined());  // closing twice is harmless
      return deferred.Promise();
    }
    StopPoll();
    closed_ = true;
    // Drop our reference on the library thread, after queued calls finished.
    std::shared_ptr<Connection> conn = std::move(connection_);
    auto work = [conn](bool&) mutable {
      conn.reset();
      return Failure{};
    };
    Napi::Value promise = Post<bool>(env, work, [](Napi::Env e, bool&) { return e.Undefined(); });
    thread_->Stop();
    return promise;
  }

  Napi::Value RefPoll(const Napi::CallbackInfo& info) {
    poll_referenced_ = true;
    if (poll_) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  Napi::Value UnrefPoll(const Napi::CallbackInfo& info) {
    poll_referenced_ = false;
    if (poll_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  Napi::FunctionReference on_watch_;
  Napi::FunctionReference on_watch_error_;
  std::shared_ptr<Connection> connection_;
  std::unique_ptr<WorkThread> thread_;
  uv_poll_t* poll_ = nullptr;
  bool poll_referenced_ = true;
  bool opening_ = false;
  bool opened_ = false;
  bool closed_ = false;
};

}  // namespace

Napi::Function DefineXenStoreHandle(Napi::Env env) {
  return XenStoreHandle::Define(env);
}

}  // namespace vmbf
