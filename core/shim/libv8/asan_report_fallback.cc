// Compiled into an ASan build's libv8.so by `cargo xtask v8 build asan-cov`:
// the two ASan report accessors V8's sandbox crash filter calls
// (src/sandbox/testing.cc) that compiler-rt only gained after LLVM 22. The
// ASan runtime comes from the executable, and a fuzz binary carries Rust
// nightly's (LLVM 22), which lacks them: without these the library does not
// load. Weak, so a runtime that has them wins. "No details" (0) keeps a
// memcpy-param-overlap report a crash instead of filtering it as harmless.

#include <cstddef>

extern "C" {

__attribute__((weak, visibility("default"))) int __asan_get_report_src_address(const void** out_addr,
                                                                               size_t* out_size) {
  static_cast<void>(out_addr);
  static_cast<void>(out_size);
  return 0;
}

__attribute__((weak, visibility("default"))) int __asan_get_report_dest_address(const void** out_addr,
                                                                                size_t* out_size) {
  static_cast<void>(out_addr);
  static_cast<void>(out_size);
  return 0;
}

}  // extern "C"
