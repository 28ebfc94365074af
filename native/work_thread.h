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

class Job {
 public:
  explicit Job(Napi::Env env) : deferred_(Napi::Promise::Deferred::New(env)) {}
  virtual ~Job() = default;
  // Library thread. Must not touch napi. Records problems in failure_.
  virtual void Execute() = 0;
  // JS thread. Default: reject with failure_ or resolve with Result().
  virtual void Settle(Napi::Env env);
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  Napi::Promise::Deferred deferred_;
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
  Napi::Promise Post(std::unique_ptr<Job> job);
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
