//! One test per planted bug (feature `planted-bugs`). Without a sanitizer most
//! of them go unnoticed, which is the point: only the sanitizer jobs
//! (`sanitizer-builds/*.sh --planted`) can tell, and each must fail on its
//! class. Each test runs in its own process there, so one report cannot hide
//! the next.

#[test]
fn planted_heap_overflow() {
    // SAFETY: not safe — a planted out-of-bounds read for the ASan/valgrind jobs.
    let byte = unsafe { v8cage::testing::planted::heap_overflow() };
    std::hint::black_box(byte);
}

#[test]
fn planted_use_after_free() {
    // SAFETY: not safe — a planted use after free for the ASan/valgrind jobs.
    let value = unsafe { v8cage::testing::planted::use_after_free() };
    std::hint::black_box(value);
}

#[test]
fn planted_leak() {
    // SAFETY: a planted leak for the LSan/valgrind jobs; no memory is misused.
    unsafe { v8cage::testing::planted::leak() };
}

#[test]
fn planted_data_race() {
    // SAFETY: not safe — a planted data race for the TSan job.
    let count = unsafe { v8cage::testing::planted::data_race() };
    assert!((1..=20_000).contains(&count), "counter {count}");
}

#[test]
fn planted_signed_overflow() {
    // SAFETY: not safe — a planted signed overflow for the UBSan job.
    let sum = unsafe { v8cage::testing::planted::signed_overflow() };
    std::hint::black_box(sum);
}

#[test]
fn planted_misaligned_load() {
    // SAFETY: not safe — a planted misaligned load for the UBSan job.
    let value = unsafe { v8cage::testing::planted::misaligned_load() };
    std::hint::black_box(value);
}

#[test]
fn planted_uninit_read() {
    // SAFETY: not safe — a planted uninitialised read for the valgrind/MSan jobs.
    let branch = unsafe { v8cage::testing::planted::uninit_read() };
    assert!(branch == 1 || branch == 2);
}

#[test]
fn planted_uninit_into_v8() {
    // SAFETY: not safe — planted uninitialised bytes for the MSan job, read
    // inside V8.
    let length = unsafe { v8cage::testing::planted::uninit_into_v8() };
    assert!(
        (0..=64).contains(&length),
        "a string of at most 64 units, got {length}"
    );
}
