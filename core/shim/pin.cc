// Pinning an isolate to one thread.
//
// Every entry point takes a v8::Locker so a context may move between
// threads. In V8 10.2 a top-level Locker sets up the thread's state and its
// destructor frees it again (handle blocks included): ~2,300 instructions of
// an `eval("1+1")` that costs ~4,100 when run straight. A caller that keeps
// a context on one thread can hold one Locker across evaluations instead;
// each evaluation's own Locker then finds the lock held by its thread and
// costs nothing.

#include "internal.h"

extern "C" {

int v8cage_pin_thread(v8cage_isolate* iso, int pin) {
  return v8cage_shim::Guarded(
      [&] {
        if (pin != 0 && iso->pin == nullptr) {
          iso->pin = std::make_unique<v8::Locker>(iso->isolate);
        } else if (pin == 0) {
          iso->pin.reset();
        }
        return 0;
      },
      [] { return -1; });
}

}  // extern "C"
