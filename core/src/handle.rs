//! Handles: JavaScript values a result refers to instead of copying them
//! (promises, symbols, maps, sets, errors, regexps, and with
//! [`ContextOptions::object_handles`](crate::ContextOptions) every object).
//! The context keeps the value alive while the embedder holds a [`Handle`];
//! `Context::get`, `set`, `keys`, `call_with_this`, `promise_state`... work
//! on it.

use std::fmt;
use std::sync::Arc;

use crate::function::{FunctionHandle, FunctionOwner};

/// What a [`Handle`] refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HandleKind {
    /// Any other object (with `object_handles`), a weak collection, an iterator...
    Object,
    Array,
    Promise,
    Symbol,
    /// A native error (`Error`, `TypeError`...).
    Error,
    Map,
    Set,
    RegExp,
    /// An `ArrayBuffer` or `SharedArrayBuffer`: in-process contexts with
    /// `object_handles` only (see `Context::buffer_memory`).
    ArrayBuffer,
}

impl HandleKind {
    pub(crate) fn from_wire(kind: u8) -> Option<HandleKind> {
        use crate::wire::*;
        Some(match kind as usize {
            HANDLE_OBJECT => HandleKind::Object,
            HANDLE_ARRAY => HandleKind::Array,
            HANDLE_PROMISE => HandleKind::Promise,
            HANDLE_SYMBOL => HandleKind::Symbol,
            HANDLE_ERROR => HandleKind::Error,
            HANDLE_MAP => HandleKind::Map,
            HANDLE_SET => HandleKind::Set,
            HANDLE_REG_EXP => HandleKind::RegExp,
            HANDLE_ARRAY_BUFFER => HandleKind::ArrayBuffer,
            _ => return None,
        })
    }

    pub(crate) fn to_wire(self) -> u8 {
        use crate::wire::*;
        (match self {
            HandleKind::Object => HANDLE_OBJECT,
            HandleKind::Array => HANDLE_ARRAY,
            HandleKind::Promise => HANDLE_PROMISE,
            HandleKind::Symbol => HANDLE_SYMBOL,
            HandleKind::Error => HANDLE_ERROR,
            HandleKind::Map => HANDLE_MAP,
            HandleKind::Set => HANDLE_SET,
            HandleKind::RegExp => HANDLE_REG_EXP,
            HandleKind::ArrayBuffer => HANDLE_ARRAY_BUFFER,
        }) as u8
    }
}

/// A JavaScript value kept in its context. Clones share it; equality is
/// identity (the same value of the same context).
#[derive(Clone)]
pub struct Handle {
    inner: Arc<Inner>,
}

struct Inner {
    kind: HandleKind,
    label: Box<str>,
    // An ArrayBuffer's memory (address, length), lent while the handle lives.
    memory: Option<(usize, usize)>,
    // None only where no context owns the result (wire-format tests).
    retained: Option<FunctionHandle>,
}

impl Handle {
    pub(crate) fn from_result(
        kind: HandleKind,
        label: String,
        id: u32,
        owner: Option<&FunctionOwner>,
        memory: Option<(usize, usize)>,
    ) -> Handle {
        let retained = owner
            .filter(|_| id != 0)
            .map(|o| FunctionHandle::new(o, id));
        Handle {
            inner: Arc::new(Inner {
                kind,
                label: label.into_boxed_str(),
                memory,
                retained,
            }),
        }
    }

    /// An ArrayBuffer handle's memory: address and byte length, lent while
    /// this handle (any clone) lives; see `Context::buffer_memory`.
    pub fn buffer_memory(&self) -> Option<(*mut u8, usize)> {
        self.inner
            .memory
            .map(|(address, length)| (address as *mut u8, length))
    }

    pub fn kind(&self) -> HandleKind {
        self.inner.kind
    }

    /// A symbol's description; for objects, the constructor's name.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    pub(crate) fn retained(&self) -> Option<&FunctionHandle> {
        self.inner.retained.as_ref()
    }
}

impl PartialEq for Handle {
    fn eq(&self, other: &Handle) -> bool {
        match (self.retained(), other.retained()) {
            (Some(a), Some(b)) => a.context_id == b.context_id && a.id == b.id,
            _ => Arc::ptr_eq(&self.inner, &other.inner),
        }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Handle")
            .field(&self.inner.kind)
            .field(&self.inner.label)
            .finish()
    }
}

/// A promise's state (`Context::promise_state`).
#[derive(Debug, Clone, PartialEq)]
pub enum PromiseState {
    Pending,
    Fulfilled(crate::Value),
    Rejected(crate::Value),
}
