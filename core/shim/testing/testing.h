// C functions that exist only to test v8cage, each compiled only with its
// cargo feature (core/build.rs); the product's ABI is v8cage_shim.h.
#ifndef V8CAGE_TESTING_H
#define V8CAGE_TESTING_H

#include <stddef.h>
#include <stdint.h>

#include "../v8cage_shim.h"

#ifdef __cplusplus
extern "C" {
#endif

// bench_raw_eval.cc (feature `bench-floor`): compiles and runs `src`
// `iterations` times in the isolate's context. Returns the successful runs.
uint64_t v8cage_bench_raw_eval(v8cage_isolate* iso, const char* src, size_t len, uint64_t iterations);

#ifdef __cplusplus
}
#endif

#endif
