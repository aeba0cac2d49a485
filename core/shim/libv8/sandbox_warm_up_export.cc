// Compiled into libv8.so by `cargo xtask v8 build`, beside V8: what the
// library reads from files once, lazily, read now. A process worker calls
// it (through core/shim/sandbox_warm_up.cc) while it may still open files;
// later, under its seccomp filter, an open kills it.

#include "absl/base/internal/sysinfo.h"

extern "C" __attribute__((visibility("default"))) void v8cage_libv8_warm_up_for_sandbox() {
  // Abseil's cycle clock (absl::Mutex contention, on V8's worker threads)
  // reads the TSC frequency from /sys/devices/system/cpu the first time.
  static_cast<void>(absl::base_internal::NominalCPUFrequency());
}
