// One dedicated OS thread per library (or per xenstore connection), fed by a
// queue. Blocking C calls run here instead of on the libuv pool, so a hung
// xenstored cannot starve fs/DNS work. Results come back through a
// thread-safe function and settle promises on the JS thread.
#pragma once

#include <napi.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "failure.h"

namespace vmbf {

// A promise that survives environment teardown. While a worker is being
// terminated napi_create_promise fails, and Napi::Promise::Deferred then keeps
// an uninitialised handle that crashes Node when returned to JS. Here the
// promise is empty instead (JS sees undefined; nobody is left to look).
class SafeDeferred {
 public:
  explicit SafeDeferred(napi_env env) : env_(env) {
    if (napi_create_promise(env, &deferred_, &promise_) != napi_ok) {
      deferred_ = nullptr;
      promise_ = nullptr;
    }
  }
  Napi::Value Promise() const { return Napi::Value(env_, promise_); }
  void Resolve(napi_value value) { Settle(value, napi_resolve_deferred); }
  void Reject(napi_value error) { Settle(error, napi_reject_deferred); }

 private:
  void Settle(napi_value value, napi_status (*settle)(napi_env, napi_deferred, napi_value)) {
    if (deferred_ == nullptr || value == nullptr) return;
    settle(env_, deferred_, value);
    deferred_ = nullptr;
  }

  napi_env env_;
  napi_deferred deferred_ = nullptr;
  napi_value promise_ = nullptr;
};

// A promise already rejected with a typed error (closed handles, bad state).
Napi::Value RejectedPromise(Napi::Env env, const Failure& failure);

class Job {
 public:
  explicit Job(Napi::Env env) : deferred_(env) {}
  virtual ~Job() = default;
  // Library thread. Must not touch napi. Records problems in failure_.
  virtual void Execute() = 0;
  // JS thread. Default: reject with failure_ or resolve with Result().
  virtual void Settle(Napi::Env env);
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }
  Napi::Value Promise() const { return deferred_.Promise(); }

 protected:
  SafeDeferred deferred_;
  Failure failure_;
};

// A job built from two lambdas, for calls whose result is a single value.
template <typename T>
class LambdaJob : public Job {
 public:
  using Work = std::function<Failure(T&)>;
  using ToJs = std::function<Napi::Value(Napi::Env, T&)>;
  LambdaJob(Napi::Env env, Work work, ToJs to_js)
      : Job(env), work_(std::move(work)), to_js_(std::move(to_js)) {}
  void Execute() override { failure_ = work_(value_); }
  Napi::Value Result(Napi::Env env) override { return to_js_(env, value_); }

 private:
  Work work_;
  ToJs to_js_;
  T value_{};
};

struct WorkThreadShared;

class WorkThread {
 public:
  // on_start runs first on the new thread (e.g. to drop write permission).
  WorkThread(Napi::Env env, std::string name, std::function<void()> on_start = {});
  ~WorkThread();
  WorkThread(const WorkThread&) = delete;
  WorkThread& operator=(const WorkThread&) = delete;

  // JS thread. Returns the job's promise; rejects at once if stopped.
  Napi::Value Post(std::unique_ptr<Job> job);
  // JS thread. Lets queued jobs finish, then ends the thread.
  void Stop();
  bool stopped() const { return stop_requested_; }

 private:
  static void OnEnvTeardown(void* self);
  void Teardown();

  Napi::Env env_;
  std::shared_ptr<WorkThreadShared> shared_;
  bool stop_requested_ = false;
  bool torn_down_ = false;
};

}  // namespace vmbf
