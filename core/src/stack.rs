//! How much of the calling thread's stack is left, for bounds that must
//! hold on small thread stacks (results decoded on a 256 KiB thread).

use std::cell::Cell;

/// Stack kept free below any bound computed here, for the caller's own frames.
const RESERVE: usize = 64 << 10;

thread_local! {
    /// The lowest address of this thread's stack; 0 if unknown.
    static STACK_LOW: Cell<Option<usize>> = const { Cell::new(None) };
}

fn stack_low() -> usize {
    STACK_LOW.with(|low| {
        if let Some(known) = low.get() {
            return known;
        }
        let found = query_stack_low().unwrap_or(0);
        low.set(Some(found));
        found
    })
}

fn query_stack_low() -> Option<usize> {
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
        (got == 0).then_some(addr as usize)
    }
}

/// How many units of `bytes_per_level` fit in the stack left below the
/// caller (unbounded when the stack's extent is unknown).
pub(crate) fn levels_left(bytes_per_level: usize) -> usize {
    let low = stack_low();
    if low == 0 {
        return usize::MAX;
    }
    let marker = 0u8;
    let here = std::hint::black_box(&marker) as *const u8 as usize;
    here.saturating_sub(low).saturating_sub(RESERVE) / bytes_per_level
}
