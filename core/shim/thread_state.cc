// Keeps V8's per-thread state of an isolate alive between evaluations, so
// that each evaluation's Locker is cheap.
//
// A top-level v8::Locker frees the calling thread's V8 state (handle blocks,
// stack guard, thread-local top) when it ends, and the next one sets it all
// up again: measured at ~12% of `eval("1+1")`. Once a thread's state has been
// archived instead (what an Unlocker does), later Lockers on that thread
// restore it lazily and archive it lazily, which costs almost nothing; when
// another thread takes the isolate, V8 archives the state for real.

#include <algorithm>
#include <array>
#include <new>

#include "internal.h"

namespace v8cage_shim {

bool KeepThreadState(v8cage_isolate* self) {
  // Isolates whose state this thread has kept, by creation number (an
  // address could be reused by a later isolate). A thread that cycles through
  // more isolates than this re-primes some; that is only slower.
  thread_local std::array<uint64_t, 8> kept{};
  thread_local size_t next_slot = 0;
  if (std::find(kept.begin(), kept.end(), self->serial) != kept.end()) return true;
  // Inside a running evaluation (a host callback evaluating again) the lock
  // is held: archiving now would pull the state from under it.
  if (v8::Locker::IsLocked(self->isolate)) return false;
  // V8 keeps a kept state until the isolate is disposed, also for threads
  // that have exited: bound how many one isolate keeps.
  if (self->kept_thread_states.fetch_add(1) >= kMaxKeptThreadStates) {
    self->kept_thread_states.fetch_sub(1);
    return false;
  }
  // Lock (setting this thread's state up), then archive and unlock, as an
  // Unlocker does. Neither object is ever destroyed: their destructors would
  // only take the lock again and free the state. They own nothing else.
  alignas(v8::Locker) unsigned char locker[sizeof(v8::Locker)];
  alignas(v8::Unlocker) unsigned char unlocker[sizeof(v8::Unlocker)];
  new (locker) v8::Locker(self->isolate);
  new (unlocker) v8::Unlocker(self->isolate);
  kept[next_slot] = self->serial;
  next_slot = (next_slot + 1) % kept.size();
  return true;
}

}  // namespace v8cage_shim
