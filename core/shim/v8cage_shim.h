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
//   EXCEPTION   string name, string message, string-or-undefined stack,
//               u32 line, u32 start column (0-based), string source line,
//               string script name (where it was thrown; 0 and "" unknown)
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
  // The evaluating thread's CPU-time budget ran out (V8CAGE_STOP_CPU_TIME).
  V8CAGE_CPU_TIME = 9,
};

// Why a running evaluation is asked to stop (v8cage_request_stop).
enum v8cage_stop_reason {
  V8CAGE_STOP_NONE = 0,
  V8CAGE_STOP_TIMEOUT = 1,
  V8CAGE_STOP_TERMINATE = 2,
  V8CAGE_STOP_OUT_OF_MEMORY = 3,
  V8CAGE_STOP_CPU_TIME = 4,
};

typedef struct v8cage_isolate v8cage_isolate;

// Bits of v8cage_limits.options.
enum v8cage_option {
  // Every object in a result (arrays too) is a handle (wire.def: HANDLE),
  // not a copy. Without it only exotic objects (promises, maps, sets,
  // errors, regexps, weak collections, proxies) and symbols are handles.
  V8CAGE_OPTION_OBJECT_HANDLES = 1,
  // setTimeout/clearTimeout exist; due timers and V8's own foreground tasks
  // (e.g. finished WebAssembly compilations) run whenever an entry point
  // enters the context, inside that entry point's timeout.
  V8CAGE_OPTION_EVENT_LOOP = 2,
  // With OBJECT_HANDLES: ArrayBuffers and SharedArrayBuffers are handles
  // too, whose memory (its address in the encoding, wire.def) is lent to
  // the embedder until the handle is released, even if JavaScript detaches
  // the buffer; the embedder may read and write it. In-process embedders
  // only: the address means nothing in another process.
  V8CAGE_OPTION_BUFFER_HANDLES = 4,
  // The isolate lives in a worker process the embedder may lose: past its
  // heap limit it gets room in proportion to the limit, and an allocation
  // that does not fit ends the process (V8's out-of-memory abort) instead
  // of the ~1 GiB room an isolate in the embedder's process needs.
  V8CAGE_OPTION_CONTAINED = 8,
  // The isolate is made by a v8::SnapshotCreator: evaluate its setup, then
  // v8cage_snapshot_take (startup.cc). No timers: native functions cannot
  // be serialized.
  V8CAGE_OPTION_SNAPSHOT_CREATOR = 16,
};

typedef struct v8cage_limits {
  size_t heap_limit;        // bytes; 0 = V8 default
  size_t max_result_bytes;  // encoded size bound for a converted result
  uint32_t max_depth;       // nesting bound for conversions both ways
  uint32_t options;         // v8cage_option bits
  // A startup snapshot (v8cage_snapshot_take's blob) the context starts
  // from, or null. Read while the isolate lives: the caller keeps it.
  const uint8_t* snapshot;
  size_t snapshot_len;
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
// The largest heap limit this V8 honours in bytes; 0: no bound of its own.
size_t v8cage_v8_max_heap_limit(void);
// 1 if V8's own sandbox is on and securely configured (after engine init).
int v8cage_v8_sandboxed(void);
// 1 if ICU's memory is counted against heap limits (icu_memory.cc): the
// linked V8's ICU could be found. After engine init.
int v8cage_icu_memory_counted(void);

// Reads now what the V8 library reads from files once, lazily (a process
// worker's seccomp filter refuses every open later). After engine init.
void v8cage_warm_up_for_sandbox(void);

// NULL on failure.
v8cage_isolate* v8cage_isolate_new(const v8cage_limits* limits);
void v8cage_isolate_free(v8cage_isolate* iso);

// The state of a V8CAGE_OPTION_SNAPSHOT_CREATOR isolate's context as a
// startup snapshot blob in `out`; 0, or V8CAGE_INVALID (not a creator, or
// taken already) or V8CAGE_INTERNAL with a message. The isolate runs
// nothing afterwards; free it.
int v8cage_snapshot_take(v8cage_isolate* iso, v8cage_output* out);

// Whether V8 accepts `blob` as a snapshot of this V8 version (its own
// version check; the embedder checks integrity).
int v8cage_snapshot_valid(const uint8_t* blob, size_t len);

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

// Operations on a handle a result handed out (v8cage_handle_op). `args` is
// an encoded array, as for v8cage_call; handle id 0 names the global object.
enum v8cage_handle_op {
  V8CAGE_OP_CALL = 0,           // [receiver, ...arguments] -> the call's result
  V8CAGE_OP_GET = 1,            // [key] -> value
  V8CAGE_OP_SET = 2,            // [key, value] -> undefined
  V8CAGE_OP_DELETE = 3,         // [key] -> true if it was deleted
  V8CAGE_OP_KEYS = 4,           // [] -> enumerable string keys, inherited too (index keys as numbers)
  V8CAGE_OP_PROMISE = 5,        // [] -> [state (0 pending, 1 fulfilled, 2 rejected), value or reason]
  V8CAGE_OP_RUN_PENDING = 6,    // [] -> ms until the next timer is due, or -1 (id unused)
  V8CAGE_OP_HOST_FUNCTION = 7,  // [] -> a function calling host callback `id`
  V8CAGE_OP_HAS = 8,            // [key] -> `key in target`
  V8CAGE_OP_HEAP_SNAPSHOT = 9,  // [] -> V8's heap snapshot, JSON text (id unused)
  // [name, source] -> [true, the module's namespace], or [false, a promise
  // of it] while its top-level await is pending (id unused; modules.cc)
  V8CAGE_OP_EVAL_MODULE = 10,
  // [] -> the settled promise's value, or its reason reported as thrown
  V8CAGE_OP_OUTCOME = 11,
  V8CAGE_OP_COUNT = 12,
};

int v8cage_handle_op(v8cage_isolate* iso, int op, uint32_t id, const uint8_t* args, size_t args_len,
                     v8cage_output* out);

// A host callback, called on the evaluating thread while JavaScript calls a
// function made by V8CAGE_OP_HOST_FUNCTION. `args` is an encoded array (the
// context's result encoding). Return 0 and point `result` at an encoded
// array holding the return value, or non-zero and point it at a UTF-8
// message (JavaScript then sees an Error with it). `result` must stay valid
// until the next callback of this isolate.
typedef int (*v8cage_host_call)(void* data, uint32_t callback_id, const uint8_t* args, size_t args_len,
                                v8cage_output* result);
void v8cage_set_host(v8cage_isolate* iso, v8cage_host_call call, void* data);
// The host callback id of the module loader: its arguments are [specifier,
// referrer's name], its value the module's source text.
#define V8CAGE_MODULE_LOADER 0xFFFFFFFFu

// Memory limits checked after every GC, below the isolate's heap limit (0:
// none): past `hard` the running evaluation stops as out of memory; past
// `soft` only the flag is set. Setting them clears both flags. Thread-safe.
void v8cage_set_memory_limits(v8cage_isolate* iso, size_t soft, size_t hard);
void v8cage_memory_limits_reached(v8cage_isolate* iso, int* soft, int* hard);

void v8cage_heap_stats_get(v8cage_isolate* iso, v8cage_heap_stats* out);
// Full GC; lets a context shed garbage (e.g. after an out-of-memory stop).
void v8cage_low_memory_notification(v8cage_isolate* iso);
// Pins the isolate to the calling thread (pin = 1): V8's lock and its
// per-thread state stay with this thread between evaluations, which then
// skip setting them up and freeing them. Unpin (pin = 0) on the same
// thread, before v8cage_isolate_free; while pinned, no other thread may use
// the isolate except through v8cage_request_stop. Returns 0.
int v8cage_pin_thread(v8cage_isolate* iso, int pin);

#ifdef __cplusplus
}
#endif

#endif
