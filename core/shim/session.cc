// Session: one evaluation's hold on the isolate (lock, scopes, stack limit,
// stop window), and the stop requests that window admits.

#include <pthread.h>

#include <algorithm>
#include <thread>

#include "internal.h"

namespace v8cage_shim {

// Lowest usable address of the calling thread's stack, cached per thread
// (pthread_getattr_np reads /proc/self/maps on the main thread).
uintptr_t ThreadStackLow() {
  thread_local uintptr_t low = 0;
  if (low == 0) {
    pthread_attr_t attr;
    void* addr = nullptr;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      if (pthread_attr_getstack(&attr, &addr, &size) != 0) addr = nullptr;
      pthread_attr_destroy(&attr);
    }
    // Unknown bounds: fall back to V8's default budget below this frame.
    low = addr != nullptr ? reinterpret_cast<uintptr_t>(addr) : CurrentStackPosition() - kMaxJsStack - kStackHeadroom;
  }
  return low;
}

void RequestTermination(v8cage_isolate* self) {
  self->termination_requested.store(true);
  self->isolate->TerminateExecution();
}

void CancelTermination(v8cage_isolate* self) {
  if (self->termination_requested.exchange(false)) self->isolate->CancelTerminateExecution();
}

void RequestStop(v8cage_isolate* self, int reason) {
  std::lock_guard<std::mutex> lock(self->stop_mutex);
  if (!self->running || self->stop_reason != V8CAGE_STOP_NONE) return;
  self->stop_reason = reason;
  RequestTermination(self);
}

// Both with stop_mutex held. Opening clears what a previous window left.
void OpenStopWindowLocked(v8cage_isolate* self) {
  CancelTermination(self);
  self->running = true;
  self->stop_reason = V8CAGE_STOP_NONE;
}

void CloseStopWindowLocked(v8cage_isolate* self) {
  self->running = false;
  self->stop_reason = V8CAGE_STOP_NONE;
  CancelTermination(self);
}

// Converters recurse in C++ and may use the whole thread stack, not only
// V8's JS budget; V8 calls they make still check V8's own limit.
Session::Session(v8cage_isolate* self)
    : self_(self),
      locker_(self->isolate),
      isolate_scope_(self->isolate),
      icu_charge_(self),
      converter_floor_(ThreadStackLow() + kStackHeadroom + kConverterStackReserve),
      outer_(self->session) {
  scopes_.emplace(self->isolate, self->context);
  self->session = this;
  uintptr_t here = CurrentStackPosition();
  uintptr_t limit = std::max(ThreadStackLow() + kStackHeadroom, here - std::min(here, kMaxJsStack));
  self->isolate->SetStackLimit(limit);
  self_->out.clear();
  if (self_->out.capacity() > (4u << 20)) std::vector<uint8_t>().swap(self_->out);
  // A thread other than the last one may have restored a state of its own
  // that V8 archived when the isolate changed threads: a request made then
  // may still be in it.
  bool state_restored = self->last_thread != std::this_thread::get_id();
  self->last_thread = std::this_thread::get_id();
  // The caller may have opened the window already, before arming a
  // timeout: a stop requested since then is for this evaluation and stays.
  std::lock_guard<std::mutex> lock(self->stop_mutex);
  if (!self->running) OpenStopWindowLocked(self);
  if (self->stop_reason != V8CAGE_STOP_NONE) {
    // Requested before this thread took the Locker, which may have restored
    // an archived thread state without the request: ask again.
    RequestTermination(self);
  } else if (state_restored) {
    self->isolate->CancelTerminateExecution();
  }
}

Session::~Session() {
  self_->session = outer_;
  // A nested session's checkpoint does not run (the outer one may be
  // running jobs): it always discards.
  if (!no_jobs_pending_ || outer_ != nullptr) DiscardPendingJobs();
  // Release this evaluation's handles first, so the clean-up GC below can
  // free what they held (e.g. a huge exception message).
  scopes_.reset();
  {
    std::lock_guard<std::mutex> lock(self_->stop_mutex);
    CloseStopWindowLocked(self_);
  }
  if (self_->heap_limit_hit) {
    self_->heap_limit_hit = false;
    self_->heap_limit_graces = 0;
    // Drop the garbage the runaway allocation left, then put the limit
    // back (the callback raised it; V8 keeps it above 1.25x the live heap).
    self_->isolate->LowMemoryNotification();
    self_->isolate->RemoveNearHeapLimitCallback(NearHeapLimit, self_->initial_heap_limit);
    self_->isolate->AddNearHeapLimitCallback(NearHeapLimit, self_);
    // If the script kept what it allocated (e.g. in a global), the context
    // stays over its limit: refuse further work rather than let the limit
    // ratchet up with every evaluation.
    v8::HeapStatistics stats;
    self_->isolate->GetHeapStatistics(&stats);
    if (stats.used_heap_size() > self_->initial_heap_limit) self_->heap_exhausted = true;
  }
  if (self_->external_limit_hit) {
    self_->external_limit_hit = false;
    // As above, for memory outside the JS heap: a WebAssembly memory the
    // script kept keeps the context over its limit.
    self_->isolate->LowMemoryNotification();
    v8::HeapStatistics stats;
    self_->isolate->GetHeapStatistics(&stats);
    if (v8cage_compat::ExternalMemory(self_->isolate, stats) > self_->limits.heap_limit) self_->heap_exhausted = true;
  }
  if (self_->icu_limit_hit) {
    self_->icu_limit_hit = false;
    // The same for ICU memory (Intl objects the script kept).
    self_->isolate->LowMemoryNotification();
    if (IcuBytes(self_) > self_->limits.heap_limit) self_->heap_exhausted = true;
  }
}

// Promise jobs still queued when an evaluation ends (it was stopped or
// threw before the checkpoint, or a getter queued them during conversion)
// must not run later, charged to the next evaluation: a timed-out script
// could otherwise leave endless work behind. V8 empties the whole queue
// when termination interrupts it (MicrotaskQueue::RunMicrotasks), so run a
// checkpoint with termination requested; with an empty queue it returns at
// once. The request is cancelled below, before the session ends.
void Session::DiscardPendingJobs() {
  RequestTermination(self_);
  self_->isolate->PerformMicrotaskCheckpoint();
}

}  // namespace v8cage_shim
