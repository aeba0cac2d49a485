// Compiled into libv8.so by `cargo xtask v8 build`, not into the shim: the
// ICU built into that library is hidden, and the shim's ICU memory counters
// (icu_memory.cc) need its u_setMemoryFunctions. Exported under a name of
// our own, which the shim looks up in the V8 library.

#include "unicode/uclean.h"

extern "C" __attribute__((visibility("default"))) void v8cage_icu_set_memory_functions(
    const void* context, UMemAllocFn* alloc, UMemReallocFn* realloc, UMemFreeFn* free, UErrorCode* status) {
  u_setMemoryFunctions(context, alloc, realloc, free, status);
}
