//! Function handles: a function in a result stays alive in its context while
//! the embedder holds a [`Function`] for it.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A JavaScript function a result handed out. The context keeps the
/// function alive while any clone of this value exists, so
/// [`Context::call_function`](crate::Context::call_function) can call it;
/// dropping the last clone lets V8 collect it. Equality compares names.
#[derive(Clone)]
pub struct Function {
    // Boxed: keeps `Value` at 32 bytes.
    name: Box<str>,
    handle: Option<Arc<FunctionHandle>>,
}

impl Function {
    /// A function value with a name and no handle (it cannot be called);
    /// for building expected values.
    pub fn named(name: impl Into<String>) -> Function {
        Function {
            name: name.into().into_boxed_str(),
            handle: None,
        }
    }

    /// The function's name, as `Function.prototype.name` or V8's inferred name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether [`Context::call_function`](crate::Context::call_function) can
    /// call it: false for [`Function::named`] values, and for functions
    /// beyond the 65,536 one context keeps at a time.
    pub fn is_callable(&self) -> bool {
        self.handle.is_some()
    }

    /// A function read from a result: handle `id` (0: none) of `owner`'s
    /// context, or no handle where the reader has no owner.
    pub(crate) fn from_result(name: String, id: u32, owner: Option<&FunctionOwner>) -> Self {
        let handle = match (id, owner) {
            (0, _) | (_, None) => None,
            (id, Some(owner)) => Some(Arc::new(FunctionHandle::new(owner, id))),
        };
        Function {
            name: name.into_boxed_str(),
            handle,
        }
    }

    pub(crate) fn handle(&self) -> Option<&FunctionHandle> {
        self.handle.as_deref()
    }
}

impl PartialEq for Function {
    fn eq(&self, other: &Function) -> bool {
        self.name == other.name
    }
}

impl fmt::Debug for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Function").field(&self.name).finish()
    }
}

impl From<&str> for Function {
    fn from(name: &str) -> Function {
        Function::named(name)
    }
}

impl From<String> for Function {
    fn from(name: String) -> Function {
        Function::named(name)
    }
}

/// Handle ids whose last `Function` was dropped, to be released by their
/// context before its next call into V8 (a drop may happen on any thread,
/// while the context is busy or gone).
#[derive(Default)]
pub(crate) struct ReleasedFunctions {
    ids: Mutex<Vec<u32>>,
    count: AtomicUsize,
    // Handles the embedder holds now (`Context::handle_count`).
    live: AtomicUsize,
}

impl ReleasedFunctions {
    fn push(&self, id: u32) {
        self.ids.lock().unwrap_or_else(|e| e.into_inner()).push(id);
        self.count.fetch_add(1, Ordering::Release);
        self.live.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// The ids released since the last call; cheap when there are none.
    pub(crate) fn take(&self) -> Vec<u32> {
        if self.count.load(Ordering::Acquire) == 0 {
            return Vec::new();
        }
        let ids = std::mem::take(&mut *self.ids.lock().unwrap_or_else(|e| e.into_inner()));
        self.count.fetch_sub(ids.len(), Ordering::Release);
        ids
    }
}

/// Where a result's function handles belong: the context's identity (a
/// handle only works on the context that made it) and its release list.
#[derive(Clone)]
pub(crate) struct FunctionOwner {
    pub(crate) context_id: u64,
    pub(crate) released: Arc<ReleasedFunctions>,
    /// Its values come from this process's own V8: ArrayBuffer handles,
    /// which carry the address of their memory, are believed. A worker's
    /// never are.
    pub(crate) local_memory: bool,
}

/// One value the context keeps for the embedder (a function or any other
/// handle), released when the last clone of its owner is dropped.
pub(crate) struct FunctionHandle {
    pub(crate) context_id: u64,
    pub(crate) id: u32,
    released: Arc<ReleasedFunctions>,
}

impl FunctionHandle {
    pub(crate) fn new(owner: &FunctionOwner, id: u32) -> FunctionHandle {
        owner.released.live.fetch_add(1, Ordering::Relaxed);
        FunctionHandle {
            context_id: owner.context_id,
            id,
            released: Arc::clone(&owner.released),
        }
    }
}

impl Drop for FunctionHandle {
    fn drop(&mut self) {
        self.released.push(self.id);
    }
}
