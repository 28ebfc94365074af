#include "work_thread.h"

#include "addon_data.h"

namespace vmbf {

Napi::Value RejectedPromise(Napi::Env env, const Failure& failure) {
  SafeDeferred deferred(env);
  deferred.Reject(MakeError(env, failure));
  return deferred.Promise();
}

void Job::Settle(Napi::Env env) {
  if (failure_.failed) {
    deferred_.Reject(MakeError(env, failure_));
  } else {
    deferred_.Resolve(Result(env));
  }
}

namespace {
void CallJs(Napi::Env env, Napi::Function, std::shared_ptr<WorkThreadShared>* context, Job* job);
}

using WorkThreadTsfn = Napi::TypedThreadSafeFunction<std::shared_ptr<WorkThreadShared>, Job, CallJs>;

// State reachable from the library thread and from TSFN callbacks. It outlives
// the WorkThread object when a thread is stuck in a call that never returns.
struct WorkThreadShared {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::unique_ptr<Job>> queue;
  bool exit = false;       // no more jobs will be queued
  bool abandoned = false;  // environment or owner gone: never touch the TSFN again
  bool busy = false;
  WorkThreadTsfn tsfn;
  std::thread thread;
  // JS thread only:
  bool released = false;
  size_t outstanding = 0;  // posted and not yet settled; the TSFN is ref'd while > 0
};

namespace {

void RunLoop(std::shared_ptr<WorkThreadShared> shared, std::function<void()> on_start) {
  if (on_start) on_start();
  WorkThreadShared& s = *shared;
  std::unique_lock<std::mutex> lock(s.mu);
  for (;;) {
    s.cv.wait(lock, [&] { return !s.queue.empty() || s.exit; });
    if (s.abandoned) return;
    if (s.queue.empty()) break;  // exit requested and everything drained
    std::unique_ptr<Job> job = std::move(s.queue.front());
    s.queue.pop_front();
    s.busy = true;
    lock.unlock();
    job->Execute();
    lock.lock();
    s.busy = false;
    if (s.abandoned) return;
    s.tsfn.NonBlockingCall(job.release());
  }
  // A null job tells the JS thread we are done: it joins us and releases the TSFN.
  s.tsfn.NonBlockingCall(nullptr);
}

void CallJs(Napi::Env env, Napi::Function, std::shared_ptr<WorkThreadShared>* context, Job* job) {
  std::unique_ptr<Job> owned(job);
  if (env == nullptr || context == nullptr) return;  // TSFN finalising: drop the job
  WorkThreadShared& s = **context;
  if (!owned) {
    if (s.thread.joinable()) s.thread.join();
    if (!s.released) {
      s.released = true;
      s.tsfn.Release();
    }
    return;
  }
  if (s.outstanding > 0 && --s.outstanding == 0 && !s.released) s.tsfn.Unref(env);
  owned->Settle(env);
}

}  // namespace

WorkThread::WorkThread(Napi::Env env, std::string name, std::function<void()> on_start)
    : env_(env), shared_(std::make_shared<WorkThreadShared>()) {
  auto* context = new std::shared_ptr<WorkThreadShared>(shared_);
  shared_->tsfn =
      WorkThreadTsfn::New(env, "vmbootfail:" + name, 0, 1, context,
                          [](Napi::Env, void*, std::shared_ptr<WorkThreadShared>* ctx) { delete ctx; });
  shared_->tsfn.Unref(env);  // an idle library thread must not keep the process alive
  shared_->thread = std::thread(RunLoop, shared_, std::move(on_start));
  // Registered after the TSFN, so it runs before Node tears the TSFN down.
  napi_add_env_cleanup_hook(env, OnEnvTeardown, this);
}

WorkThread::~WorkThread() {
  if (!torn_down_) {
    napi_remove_env_cleanup_hook(env_, OnEnvTeardown, this);
    Teardown();
  }
}

void WorkThread::OnEnvTeardown(void* self) {
  static_cast<WorkThread*>(self)->Teardown();
}

Napi::Value WorkThread::Post(std::unique_ptr<Job> job) {
  Napi::Value promise = job->Promise();
  WorkThreadShared& s = *shared_;
  if (stop_requested_ || s.released || torn_down_) {
    return RejectedPromise(env_, Failure::Of("ERR_CLOSED", "addon", "post", "the handle is closed"));
  }
  if (s.outstanding++ == 0) s.tsfn.Ref(env_);
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.queue.push_back(std::move(job));
  }
  s.cv.notify_one();
  return promise;
}

void WorkThread::Stop() {
  if (stop_requested_ || torn_down_) return;
  stop_requested_ = true;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->exit = true;
  }
  shared_->cv.notify_one();
}

void WorkThread::Teardown() {
  if (torn_down_) return;
  torn_down_ = true;
  WorkThreadShared& s = *shared_;
  if (s.released) return;  // the thread already ended and was joined
  bool busy;
  std::deque<std::unique_ptr<Job>> dropped;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.abandoned = true;
    s.exit = true;
    busy = s.busy;
    dropped.swap(s.queue);
  }
  s.cv.notify_one();
  if (s.thread.joinable()) {
    // A thread stuck in a call that never returns (a hung xenstored) is left behind.
    if (busy) {
      s.thread.detach();
    } else {
      s.thread.join();
    }
  }
  s.released = true;
  s.tsfn.Release();
}

}  // namespace vmbf
