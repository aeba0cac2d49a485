// Compiled into libv8.so by `cargo xtask v8 build`, beside V8: what the
// library reads from files once, lazily, read now. A process worker calls
// it (through core/shim/sandbox_warm_up.cc) while it may still open files;
// later, under its seccomp filter, an open kills it.

#include "absl/base/internal/sysinfo.h"

extern "C" __attribute__((visibility("default"))) void v8cage_libv8_warm_up_for_sandbox() {
  // On first contention (absl::Mutex, SpinLock, on V8's worker threads)
  // abseil counts the CPUs (std::thread::hardware_concurrency reads
  // /sys/devices/system/cpu/online) and its cycle clock reads the TSC
  // frequency from /sys/devices/system/cpu/cpu0. Both are kept.
  static_cast<void>(absl::base_internal::NumCPUs());
  static_cast<void>(absl::base_internal::NominalCPUFrequency());
}
