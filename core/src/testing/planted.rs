//! Deliberate bugs, one per class a sanitizer job must catch (cargo feature
//! `planted-bugs`, debug builds only). `core/tests/planted.rs` calls them and
//! `sanitizer-builds/*.sh --planted` runs those tests to prove that each job
//! reports its class and fails. The bugs live in `core/shim/testing/planted_bugs.cc`,
//! so the C++ instrumentation of each job is what catches them.
//!
//! Every function here is undefined behaviour (or a leak) by design, hence
//! `unsafe fn` with no way to call it safely.

#[cfg(not(debug_assertions))]
compile_error!(
    "the `planted-bugs` feature is for sanitizer proofs only; it is refused in release builds"
);

mod ffi {
    extern "C" {
        pub fn v8cage_planted_heap_overflow(size: usize) -> u8;
        pub fn v8cage_planted_use_after_free(value: i32) -> i32;
        pub fn v8cage_planted_leak(size: usize);
        pub fn v8cage_planted_data_race(increments: i64) -> i64;
        pub fn v8cage_planted_signed_overflow(addend: i32) -> i32;
        pub fn v8cage_planted_misaligned_load(offset: usize) -> i32;
        pub fn v8cage_planted_uninit_read(compare_with: i32) -> i32;
        pub fn v8cage_planted_uninit_into_v8(length: i32) -> i32;
    }
}

/// Reads one byte past a 16-byte heap block (ASan: heap-buffer-overflow;
/// valgrind: invalid read).
///
/// # Safety
/// Never safe: an out-of-bounds read on purpose.
pub unsafe fn heap_overflow() -> u8 {
    // SAFETY: none — the caller opted into a planted out-of-bounds read.
    unsafe { ffi::v8cage_planted_heap_overflow(16) }
}

/// Reads a freed heap block (ASan: heap-use-after-free; valgrind: invalid read).
///
/// # Safety
/// Never safe: a use after free on purpose.
pub unsafe fn use_after_free() -> i32 {
    // SAFETY: none — the caller opted into a planted use after free.
    unsafe { ffi::v8cage_planted_use_after_free(7) }
}

/// Loses the only pointer to 64 heap bytes (LSan: detected memory leaks;
/// valgrind: definitely lost).
///
/// # Safety
/// Memory-safe, but a leak on purpose; unsafe so it cannot be called by accident.
pub unsafe fn leak() {
    // SAFETY: the shim only allocates and forgets; no memory is misused.
    unsafe { ffi::v8cage_planted_leak(64) }
}

/// Two threads increment one plain integer (TSan: data race).
///
/// # Safety
/// Never safe: a data race on purpose.
pub unsafe fn data_race() -> i64 {
    // SAFETY: none — the caller opted into a planted data race.
    unsafe { ffi::v8cage_planted_data_race(10_000) }
}

/// Computes `i32::MAX + 1` in C++ (UBSan: signed integer overflow).
///
/// # Safety
/// Never safe: signed overflow is undefined behaviour in C++.
pub unsafe fn signed_overflow() -> i32 {
    // SAFETY: none — the caller opted into a planted signed overflow.
    unsafe { ffi::v8cage_planted_signed_overflow(1) }
}

/// Loads an `int32_t` from an odd address (UBSan: misaligned address).
///
/// # Safety
/// Never safe: a misaligned load on purpose.
pub unsafe fn misaligned_load() -> i32 {
    // SAFETY: none — the caller opted into a planted misaligned load.
    unsafe { ffi::v8cage_planted_misaligned_load(1) }
}

/// Branches on heap memory that was never written (valgrind: conditional
/// jump depends on uninitialised value; MSan: use-of-uninitialized-value).
///
/// # Safety
/// Never safe: reads uninitialised memory on purpose.
pub unsafe fn uninit_read() -> i32 {
    // SAFETY: none — the caller opted into a planted uninitialised read.
    unsafe { ffi::v8cage_planted_uninit_read(42) }
}

/// Hands V8 64 heap bytes that were never written, as UTF-8, and returns the
/// string's length: the uninitialised read happens inside V8, so only a V8
/// built with MSan reports it (MSan: use-of-uninitialized-value in V8's
/// UTF-8 decoder).
///
/// # Safety
/// Never safe: passes uninitialised memory to V8 on purpose.
pub unsafe fn uninit_into_v8() -> i32 {
    crate::engine::ensure_initialised().expect("V8 starts");
    // SAFETY: none — the caller opted into a planted uninitialised read; the
    // shim's isolate is its own and disposed before returning.
    unsafe { ffi::v8cage_planted_uninit_into_v8(64) }
}

/// Reads one element past a slice through a raw pointer, in Rust alone (the
/// Miri job: "Undefined Behavior: ... out-of-bounds"). No sanitizer job runs
/// it: their bugs are in the shim.
///
/// # Safety
/// Never safe: an out-of-bounds read on purpose.
pub unsafe fn rust_out_of_bounds_read(values: &[u32]) -> u32 {
    // SAFETY: none — the caller opted into a planted out-of-bounds read.
    unsafe { *values.as_ptr().add(values.len()) }
}

#[cfg(test)]
mod tests {
    /// The Miri job's planted bug (sanitizer-builds/miri.sh --planted).
    #[test]
    fn planted_rust_out_of_bounds_read() {
        let values = vec![1u32, 2, 3];
        // SAFETY: none — planted undefined behaviour, for Miri to report.
        let past_the_end = unsafe { super::rust_out_of_bounds_read(&values) };
        std::hint::black_box(past_the_end);
    }
}
