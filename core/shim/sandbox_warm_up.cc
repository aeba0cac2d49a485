// What the V8 library would read from files later, read before a process
// worker's seccomp filter refuses every open (core/src/process/worker.rs).

#include "internal.h"

extern "C" void v8cage_warm_up_for_sandbox(void) {
  // Only our own V8 build has it (core/shim/libv8/); Debian's libnode reads
  // nothing lazily that the worker's warm-up evaluation does not.
  using WarmUp = void();
  if (auto* warm_up = reinterpret_cast<WarmUp*>(v8cage_shim::V8LibrarySymbol("v8cage_libv8_warm_up_for_sandbox"))) {
    warm_up();
  }
}
