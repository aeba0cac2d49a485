//! Declarations of the C ABI in `shim/v8cage_shim.h`. Only `context.rs` and
//! `engine.rs` call these, each call behind a `// SAFETY:` comment.

use std::os::raw::{c_char, c_int};

#[repr(C)]
pub struct RawIsolate {
    _private: [u8; 0],
}

#[repr(C)]
pub struct Limits {
    pub heap_limit: usize,
    pub max_result_bytes: usize,
    pub max_depth: u32,
    pub options: u32,
    pub snapshot: *const u8,
    pub snapshot_len: usize,
}

#[repr(C)]
pub struct Output {
    pub data: *const u8,
    pub len: usize,
}

impl Output {
    pub fn empty() -> Self {
        Output {
            data: std::ptr::null(),
            len: 0,
        }
    }
}

#[repr(C)]
#[derive(Default)]
pub struct RawHeapStats {
    pub used: usize,
    pub total: usize,
    pub limit: usize,
    pub external: usize,
}

pub const STATUS_OK: c_int = 0;
pub const STATUS_SYNTAX: c_int = 1;
pub const STATUS_EXCEPTION: c_int = 2;
pub const STATUS_TIMEOUT: c_int = 3;
pub const STATUS_OUT_OF_MEMORY: c_int = 4;
pub const STATUS_TERMINATED: c_int = 5;
pub const STATUS_CONVERSION: c_int = 6;
pub const STATUS_INVALID: c_int = 7;
/// Decoded as `Error::Engine`, as any status not listed here.
#[allow(dead_code)]
pub const STATUS_INTERNAL: c_int = 8;
pub const STATUS_CPU_TIME: c_int = 9;

pub const OPTION_OBJECT_HANDLES: u32 = 1;
pub const OPTION_EVENT_LOOP: u32 = 2;
pub const OPTION_BUFFER_HANDLES: u32 = 4;
pub const OPTION_CONTAINED: u32 = 8;
pub const OPTION_SNAPSHOT_CREATOR: u32 = 16;

pub const OP_CALL: c_int = 0;
pub const OP_GET: c_int = 1;
pub const OP_SET: c_int = 2;
pub const OP_DELETE: c_int = 3;
pub const OP_KEYS: c_int = 4;
pub const OP_PROMISE: c_int = 5;
pub const OP_RUN_PENDING: c_int = 6;
pub const OP_HOST_FUNCTION: c_int = 7;
pub const OP_HAS: c_int = 8;
pub const OP_HEAP_SNAPSHOT: c_int = 9;
pub const OP_EVAL_MODULE: c_int = 10;
pub const OP_OUTCOME: c_int = 11;
/// The host callback id of the module loader (`V8CAGE_MODULE_LOADER`).
pub const MODULE_LOADER: u32 = u32::MAX;

/// `v8cage_host_call`: see v8cage_shim.h.
pub type HostCall = unsafe extern "C" fn(
    data: *mut std::ffi::c_void,
    callback_id: u32,
    args: *const u8,
    args_len: usize,
    result: *mut Output,
) -> c_int;

pub const STOP_TIMEOUT: c_int = 1;
pub const STOP_TERMINATE: c_int = 2;
pub const STOP_CPU_TIME: c_int = 4;

extern "C" {
    pub fn v8cage_engine_init(flags: *const c_char, flags_len: usize) -> c_int;
    pub fn v8cage_v8_version() -> *const c_char;
    pub fn v8cage_v8_max_heap_limit() -> usize;
    pub fn v8cage_v8_sandboxed() -> c_int;
    pub fn v8cage_icu_memory_counted() -> c_int;
    pub fn v8cage_warm_up_for_sandbox();
    pub fn v8cage_isolate_new(limits: *const Limits) -> *mut RawIsolate;
    pub fn v8cage_isolate_free(iso: *mut RawIsolate);
    pub fn v8cage_snapshot_take(iso: *mut RawIsolate, out: *mut Output) -> c_int;
    pub fn v8cage_snapshot_valid(blob: *const u8, len: usize) -> c_int;
    pub fn v8cage_request_stop(iso: *mut RawIsolate, reason: c_int);
    pub fn v8cage_open_stop_window(iso: *mut RawIsolate);
    pub fn v8cage_close_stop_window(iso: *mut RawIsolate);
    pub fn v8cage_eval(
        iso: *mut RawIsolate,
        src: *const c_char,
        len: usize,
        out: *mut Output,
    ) -> c_int;
    pub fn v8cage_call(
        iso: *mut RawIsolate,
        name: *const c_char,
        name_len: usize,
        args: *const u8,
        args_len: usize,
        out: *mut Output,
    ) -> c_int;
    pub fn v8cage_call_function(
        iso: *mut RawIsolate,
        function_id: u32,
        args: *const u8,
        args_len: usize,
        out: *mut Output,
    ) -> c_int;
    pub fn v8cage_handle_op(
        iso: *mut RawIsolate,
        op: c_int,
        id: u32,
        args: *const u8,
        args_len: usize,
        out: *mut Output,
    ) -> c_int;
    pub fn v8cage_set_host(
        iso: *mut RawIsolate,
        call: Option<HostCall>,
        data: *mut std::ffi::c_void,
    );
    pub fn v8cage_release_functions(iso: *mut RawIsolate, ids: *const u32, count: usize);
    pub fn v8cage_set_memory_limits(iso: *mut RawIsolate, soft: usize, hard: usize);
    pub fn v8cage_memory_limits_reached(iso: *mut RawIsolate, soft: *mut c_int, hard: *mut c_int);
    pub fn v8cage_heap_stats_get(iso: *mut RawIsolate, out: *mut RawHeapStats);
    pub fn v8cage_low_memory_notification(iso: *mut RawIsolate);
    pub fn v8cage_pin_thread(iso: *mut RawIsolate, pin: c_int) -> c_int;
    #[cfg(all(test, not(miri)))]
    pub fn v8cage_wire_entries(count: *mut usize) -> *const WireEntry;
}

/// `v8cage_wire_entry` (wire.h): one tag or constant the shim compiled.
#[cfg(all(test, not(miri)))]
#[repr(C)]
pub struct WireEntry {
    pub name: *const c_char,
    pub value: u64,
}
