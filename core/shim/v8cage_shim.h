// The C ABI between the Rust core and V8: the product's only entry points
// (the shim's other files implement them; testing/ holds test-only ones).
// Nothing here throws, every pointer is owned as documented.
#ifndef V8CAGE_SHIM_H
#define V8CAGE_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Outcome of an eval/call. The output buffer (v8cage_output) holds, per status:
//   OK          one encoded value (wire.def)
//   SYNTAX      string message, number line, number column
//   EXCEPTION   string name, string message, string-or-undefined stack
//   CONVERSION  string message
//   INVALID     string message
//   others      nothing
enum v8cage_status {
  V8CAGE_OK = 0,
  V8CAGE_SYNTAX = 1,
  V8CAGE_EXCEPTION = 2,
  V8CAGE_TIMEOUT = 3,
  V8CAGE_OUT_OF_MEMORY = 4,
  V8CAGE_TERMINATED = 5,
  V8CAGE_CONVERSION = 6,
  V8CAGE_INVALID = 7,
  V8CAGE_INTERNAL = 8,
};

// Why a running evaluation is asked to stop (v8cage_request_stop).
enum v8cage_stop_reason {
  V8CAGE_STOP_NONE = 0,
  V8CAGE_STOP_TIMEOUT = 1,
  V8CAGE_STOP_TERMINATE = 2,
  V8CAGE_STOP_OUT_OF_MEMORY = 3,
};

typedef struct v8cage_isolate v8cage_isolate;

typedef struct v8cage_limits {
  size_t heap_limit;        // bytes; 0 = V8 default
  size_t max_result_bytes;  // encoded size bound for a converted result
  uint32_t max_depth;       // nesting bound for conversions both ways
} v8cage_limits;

typedef struct v8cage_output {
  const uint8_t* data;  // owned by the isolate; valid until its next call
  size_t len;
} v8cage_output;

typedef struct v8cage_heap_stats {
  size_t used;
  size_t total;
  size_t limit;
  size_t external;
} v8cage_heap_stats;

// Process-wide initialisation; call once. `flags` may be NULL. Returns 0 on success.
int v8cage_engine_init(const char* flags, size_t flags_len);
// The V8 version string, static storage.
const char* v8cage_v8_version(void);

// NULL on failure.
v8cage_isolate* v8cage_isolate_new(const v8cage_limits* limits);
void v8cage_isolate_free(v8cage_isolate* iso);

// Thread-safe: stops the running evaluation, if any, for `reason`. No effect
// when nothing runs, so a late request cannot kill the next evaluation.
void v8cage_request_stop(v8cage_isolate* iso, int reason);

// Opens the window in which stop requests apply, before the caller arms a
// timeout for the next v8cage_eval/v8cage_call (which then keep the window
// and any stop already requested in it); the evaluation closes it when it
// ends. Close it yourself if the call is never made or returns early.
// Thread-safe, and cheap (a mutex).
void v8cage_open_stop_window(v8cage_isolate* iso);
void v8cage_close_stop_window(v8cage_isolate* iso);

int v8cage_eval(v8cage_isolate* iso, const char* src, size_t len, v8cage_output* out);
// `name` is a global function name or a dotted path ("JSON.stringify");
// `args` is an encoded array of values.
int v8cage_call(v8cage_isolate* iso, const char* name, size_t name_len, const uint8_t* args, size_t args_len,
                v8cage_output* out);

// Calls a function a result handed out (its handle id, from the kFunction
// encoding) with `this` undefined. V8CAGE_INVALID once it was released.
int v8cage_call_function(v8cage_isolate* iso, uint32_t function_id, const uint8_t* args, size_t args_len,
                         v8cage_output* out);
// Lets V8 collect functions the embedder no longer holds. Unknown ids are ignored.
void v8cage_release_functions(v8cage_isolate* iso, const uint32_t* ids, size_t count);

// Memory limits checked after every GC, below the isolate's heap limit (0:
// none): past `hard` the running evaluation stops as out of memory; past
// `soft` only the flag is set. Setting them clears both flags. Thread-safe.
void v8cage_set_memory_limits(v8cage_isolate* iso, size_t soft, size_t hard);
void v8cage_memory_limits_reached(v8cage_isolate* iso, int* soft, int* hard);

void v8cage_heap_stats_get(v8cage_isolate* iso, v8cage_heap_stats* out);
// Full GC; lets a context shed garbage (e.g. after an out-of-memory stop).
void v8cage_low_memory_notification(v8cage_isolate* iso);

#ifdef __cplusplus
}
#endif

#endif
