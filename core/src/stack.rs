//! How much of the calling thread's stack is left, for bounds that must
//! hold on small thread stacks (results decoded on a 256 KiB thread).
// Under Miri only `levels_left`'s stand-in exists (see its end).
#![cfg_attr(miri, allow(dead_code))]

use std::cell::Cell;

/// Stack kept free below any bound computed here, for the caller's own frames.
const RESERVE: usize = 32 << 10;

thread_local! {
    /// This thread's stack as (lowest, highest) address; (0, 0) if unknown.
    static STACK: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
}

fn stack_extent() -> (usize, usize) {
    STACK.with(|extent| {
        if let Some(known) = extent.get() {
            return known;
        }
        let found = query_stack().unwrap_or((0, 0));
        extent.set(Some(found));
        found
    })
}

fn query_stack() -> Option<(usize, usize)> {
    // SAFETY: `attr` is initialised by pthread_getattr_np before it is read
    // and destroyed once; the out-pointers are valid locals.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let got = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        (got == 0).then_some((addr as usize, addr as usize + size))
    }
}

/// The stack pointer. Not the address of a local: under AddressSanitizer
/// locals may live on a "fake stack" on the heap.
#[inline(always)]
fn stack_pointer() -> usize {
    let sp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads a register; no memory access.
    unsafe {
        std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: reads a register; no memory access.
    unsafe {
        std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let marker = 0u8;
        sp = std::hint::black_box(&marker) as *const u8 as usize;
    }
    sp
}

/// How many units of `bytes_per_level` fit in the stack left below the
/// caller (unbounded when the stack's extent is unknown).
#[cfg(not(miri))]
pub(crate) fn levels_left(bytes_per_level: usize) -> usize {
    let (low, high) = stack_extent();
    let here = stack_pointer();
    if !(low < here && here <= high) {
        return usize::MAX;
    }
    (here - low).saturating_sub(RESERVE) / bytes_per_level
}

/// Under Miri (sanitizer-builds/miri.sh), which has neither
/// `pthread_getattr_np` nor inline assembly: the stack's extent is unknown,
/// as on a thread whose attributes cannot be read, and the decoders are
/// bounded by their depth limits alone.
#[cfg(miri)]
pub(crate) fn levels_left(_bytes_per_level: usize) -> usize {
    usize::MAX
}
