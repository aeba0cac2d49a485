//! The wire format values cross the C ABI in (defined once, in
//! `core/shim/wire.def`): encoding call arguments, and reading the shim's
//! output as hostile input (every length checked, no recursion).

use crate::bigint::MAX_BIGINT_BITS;
use crate::function::{Function, FunctionOwner};
use crate::handle::{Handle, HandleKind};
use crate::{BigInt, Error, Value};
use std::borrow::Cow;

// `tag::*`, the layout constants and (in tests) `WIRE_ENTRIES`, generated
// by build.rs from core/shim/wire.def, the format's one definition.
include!(concat!(env!("OUT_DIR"), "/wire_format.rs"));

fn put_len(out: &mut Vec<u8>, len: usize, what: &str) -> Result<(), Error> {
    let len =
        u32::try_from(len).map_err(|_| Error::InvalidInput(format!("{what} longer than 4 GiB")))?;
    out.extend_from_slice(&len.to_ne_bytes());
    Ok(())
}

/// Encodes call arguments as one wire array of at most `max_bytes` (the
/// context's `max_result_bytes`: the bound holds both ways), each part
/// checked before it is copied. Iterative, like `Reader`, so a deep argument
/// is refused without deep recursion.
/// `context_id`: the context the arguments go to; a handle of another
/// context is refused.
pub(crate) fn encode_args(
    args: &[Value],
    max_depth: u32,
    max_bytes: usize,
    context_id: u64,
) -> Result<Vec<u8>, Error> {
    enum Open<'a> {
        Items(std::slice::Iter<'a, Value>),
        Entries(std::slice::Iter<'a, (String, Value)>),
    }
    let mut out = Vec::with_capacity(64);
    out.push(tag::ARRAY);
    put_len(&mut out, args.len(), "argument list")?;
    let mut stack = vec![Open::Items(args.iter())];
    while let Some(top) = stack.last_mut() {
        let next = match top {
            Open::Items(items) => items.next(),
            Open::Entries(entries) => entries
                .next()
                .map(|(k, v)| {
                    fits(&out, LEN_BYTES + k.len(), max_bytes)
                        .and_then(|()| put_len(&mut out, k.len(), "key"))
                        .map(|()| out.extend_from_slice(k.as_bytes()))
                        .map(|()| v)
                })
                .transpose()?,
        };
        let Some(v) = next else {
            stack.pop();
            continue;
        };
        fits(&out, encoded_size(v), max_bytes)?;
        match v {
            Value::Array(items) => {
                out.push(tag::ARRAY);
                put_len(&mut out, items.len(), "array")?;
                stack.push(Open::Items(items.iter()));
            }
            Value::Object(entries) => {
                out.push(tag::OBJECT);
                put_len(&mut out, entries.len(), "object")?;
                stack.push(Open::Entries(entries.iter()));
            }
            scalar => encode_scalar(scalar, &mut out, context_id)?,
        }
        if stack.len() > max_depth as usize {
            return Err(Error::InvalidInput(format!(
                "argument nests deeper than {max_depth} levels"
            )));
        }
    }
    Ok(out)
}

/// Bytes `v` takes on the wire, not counting the children of a container.
fn encoded_size(v: &Value) -> usize {
    1 + match v {
        Value::Undefined | Value::Null | Value::Bool(_) => 0,
        Value::Number(_) | Value::Date(_) => F64_BYTES,
        Value::BigInt(big) => 1 + LEN_BYTES + BIG_INT_WORD_BYTES * big.words().len(),
        Value::String(s) => LEN_BYTES + s.len(),
        Value::Bytes(b) => LEN_BYTES + b.len(),
        Value::Array(_) | Value::Object(_) => LEN_BYTES,
        Value::Function(f) => 2 * LEN_BYTES + f.name().len(),
        Value::Handle(h) => 1 + 2 * LEN_BYTES + h.label().len(),
    }
}

fn fits(out: &[u8], more: usize, max_bytes: usize) -> Result<(), Error> {
    if out.len().saturating_add(more) > max_bytes {
        return Err(Error::InvalidInput(format!(
            "arguments larger than max_result_bytes ({max_bytes} bytes)"
        )));
    }
    Ok(())
}

/// The id under which `context_id`'s context keeps a handle.
fn handle_id(
    retained: Option<&crate::function::FunctionHandle>,
    context_id: u64,
    what: &dyn std::fmt::Debug,
) -> Result<u32, Error> {
    match retained {
        Some(r) if r.context_id == context_id => Ok(r.id),
        Some(_) => Err(Error::InvalidInput(format!(
            "{what:?} belongs to another context"
        ))),
        None => Err(Error::InvalidInput(format!(
            "{what:?} has no handle to pass it by"
        ))),
    }
}

fn encode_scalar(v: &Value, out: &mut Vec<u8>, context_id: u64) -> Result<(), Error> {
    match v {
        Value::Undefined => out.push(tag::UNDEFINED),
        Value::Null => out.push(tag::NULL),
        Value::Bool(false) => out.push(tag::FALSE),
        Value::Bool(true) => out.push(tag::TRUE),
        Value::Number(n) => {
            out.push(tag::NUMBER);
            out.extend_from_slice(&n.to_ne_bytes());
        }
        Value::Date(n) => {
            out.push(tag::DATE);
            out.extend_from_slice(&n.to_ne_bytes());
        }
        Value::BigInt(big) => {
            // The shim's bound, for arguments too.
            if big.bits() > MAX_BIGINT_BITS {
                return Err(Error::InvalidInput(format!(
                    "BigInt of {} bits is larger than 2^20 bits",
                    big.bits()
                )));
            }
            out.push(tag::BIG_INT);
            out.push(u8::from(big.is_negative()));
            put_len(out, big.words().len(), "BigInt")?;
            for w in big.words() {
                out.extend_from_slice(&w.to_ne_bytes());
            }
        }
        Value::String(s) => {
            out.push(tag::STRING);
            put_len(out, s.len(), "string")?;
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bytes(b) => {
            out.push(tag::BYTES);
            put_len(out, b.len(), "byte array")?;
            out.extend_from_slice(b);
        }
        Value::Function(function) => {
            let id = handle_id(function.handle(), context_id, function)?;
            out.push(tag::FUNCTION);
            put_len(out, function.name().len(), "function name")?;
            out.extend_from_slice(function.name().as_bytes());
            out.extend_from_slice(&id.to_ne_bytes());
        }
        Value::Handle(handle) => {
            let id = handle_id(handle.retained(), context_id, handle)?;
            out.push(tag::HANDLE);
            out.push(handle.kind().to_wire());
            put_len(out, handle.label().len(), "handle label")?;
            out.extend_from_slice(handle.label().as_bytes());
            out.extend_from_slice(&id.to_ne_bytes());
        }
        Value::Array(_) | Value::Object(_) => unreachable!("containers are handled by encode_args"),
    }
    Ok(())
}

/// Reads the shim's output. Iterative, so a deeply nested result cannot
/// overflow a small thread stack.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    owner: Option<&'a FunctionOwner>,
    /// Bytes the decoded `Value` tree may still take in the host: the wire
    /// bound alone let `a.length = 6e7` (60 MB of holes) become 2.3 GB.
    host_left: usize,
    /// Deepest nesting accepted. The shim never writes deeper than the
    /// context's `max_depth`, but a worker's reply is not trusted: a chain
    /// of a million one-element arrays is cheap on the wire and would
    /// overflow the host's stack when the `Value` is dropped.
    max_depth: usize,
    /// Levels the calling thread's stack has room for (see `check_depth`).
    stack_levels: usize,
    /// Containers being read, innermost last.
    open: Vec<Open>,
    started: bool,
}

/// A container the reader is inside: elements left, and for an object
/// whether the current element's key was read.
struct Open {
    remaining: u32,
    object: bool,
    keyed: bool,
}

const MALFORMED: &str = "malformed value encoding from the shim";

/// Stack a level of a `Value` may take where it is dropped: measured
/// (dropping nested arrays on a 256 KiB thread) at ~180 bytes a level in a
/// debug build and ~250 under AddressSanitizer, so a 999-deep result still
/// fits a 512 KiB thread (Python's `threading.stack_size` tests).
const STACK_BYTES_PER_LEVEL: usize = 320;

fn corrupt() -> Error {
    Error::Conversion(MALFORMED.into())
}

/// Whether `e` says the output did not parse (as opposed to a result that
/// parsed but broke a limit): from a worker, a sign it is broken or lying.
pub(crate) fn is_malformed(e: &Error) -> bool {
    matches!(e, Error::Conversion(what) if what == MALFORMED)
}

/// A string as the shim writes one (length, then UTF-8), for a worker's
/// own error replies.
pub(crate) fn encode_string(text: &str) -> Vec<u8> {
    let text = &text.as_bytes()[..text.len().min(u32::MAX as usize)];
    let mut out = (text.len() as u32).to_ne_bytes().to_vec();
    out.extend_from_slice(text);
    out
}

impl<'a> Reader<'a> {
    #[cfg(test)]
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            owner: None,
            host_left: usize::MAX,
            max_depth: usize::MAX,
            stack_levels: usize::MAX,
            open: Vec::new(),
            started: false,
        }
    }

    /// A reader whose functions get handles owned by a context, whose
    /// values may take at most `host_bytes` in memory and nest at most
    /// `max_depth` deep.
    pub(crate) fn with_owner(
        buf: &'a [u8],
        owner: &'a FunctionOwner,
        host_bytes: usize,
        max_depth: u32,
    ) -> Self {
        Reader {
            buf,
            owner: Some(owner),
            host_left: host_bytes,
            max_depth: max_depth as usize,
            stack_levels: crate::stack::levels_left(STACK_BYTES_PER_LEVEL),
            open: Vec::new(),
            started: false,
        }
    }

    /// Pays for `count` items of `each` bytes (or `count` bytes of payload).
    fn reserve(&mut self, count: usize, each: usize) -> Result<(), Error> {
        match count
            .checked_mul(each)
            .and_then(|bytes| self.host_left.checked_sub(bytes))
        {
            Some(left) => {
                self.host_left = left;
                Ok(())
            }
            None => Err(Error::Conversion(
                "result too large for the host (its copy may take 4 x max_result_bytes)".into(),
            )),
        }
    }

    fn function(&mut self) -> Result<Function, Error> {
        let name = self.string()?;
        let id = self.u32()?;
        Ok(Function::from_result(name, id, self.owner))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.buf.len() < n {
            return Err(corrupt());
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn byte(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_ne_bytes(
            self.take(LEN_BYTES)?.try_into().map_err(|_| corrupt())?,
        ))
    }
    fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_ne_bytes(
            self.take(F64_BYTES)?.try_into().map_err(|_| corrupt())?,
        ))
    }
    fn f64(&mut self) -> Result<f64, Error> {
        Ok(f64::from_ne_bytes(
            self.take(F64_BYTES)?.try_into().map_err(|_| corrupt())?,
        ))
    }
    fn bytes(&mut self) -> Result<&'a [u8], Error> {
        let n = self.u32()? as usize;
        // A length past the end is malformed, whatever the budget says.
        if n > self.buf.len() {
            return Err(corrupt());
        }
        self.reserve(n, 1)?;
        self.take(n)
    }
    /// A length-prefixed UTF-8 string (invalid sequences replaced).
    pub(crate) fn string(&mut self) -> Result<String, Error> {
        Ok(String::from_utf8_lossy(self.bytes()?).into_owned())
    }
    /// Capacity for `count` items, never more than the bytes left could hold.
    fn capacity(&self, count: u32) -> usize {
        (count as usize).min(self.buf.len())
    }

    /// Fails unless one more level fits under `open` ones: past
    /// `max_depth` (the shim's own bound, so a real result never fails
    /// there) the output is malformed; past what the calling thread's stack
    /// can take, the result is refused like any too-deep result. Dropping a
    /// `Value` recurses once per level on the thread that drops it; the
    /// shim bounds depth by the stack of the thread V8 ran on, which is not
    /// this one when a worker process produced it.
    fn check_depth(&self, open: usize) -> Result<(), Error> {
        if open >= self.max_depth {
            return Err(corrupt());
        }
        if open >= self.stack_levels {
            return Err(Error::Conversion(format!(
                "value nests deeper than this thread's stack can hold ({} levels)",
                self.stack_levels
            )));
        }
        Ok(())
    }

    /// The next event of the value being read (see [`Event`]). Every limit
    /// (host budget, depth, this thread's stack) is checked here, so every
    /// consumer of the events gets the same guarantees.
    pub(crate) fn next_event(&mut self) -> Result<Event<'a>, Error> {
        if let Some(top) = self.open.last_mut() {
            if top.remaining == 0 {
                self.open.pop();
                return Ok(Event::End);
            }
            if top.object && !top.keyed {
                top.keyed = true;
                return Ok(Event::Key(self.text()?));
            }
            top.remaining -= 1;
            top.keyed = false;
        } else if self.started {
            return Err(corrupt());
        } else {
            self.started = true;
            self.reserve(1, size_of::<Value>())?;
        }
        Ok(match self.byte()? {
            tag::UNDEFINED => Event::Undefined,
            tag::NULL => Event::Null,
            tag::FALSE => Event::Bool(false),
            tag::TRUE => Event::Bool(true),
            tag::NUMBER => Event::Number(self.f64()?),
            tag::DATE => Event::Date(self.f64()?),
            tag::STRING => Event::String(self.text()?),
            tag::FUNCTION => Event::Function(self.function()?),
            tag::HANDLE => {
                let kind = HandleKind::from_wire(self.byte()?).ok_or_else(corrupt)?;
                let label = self.string()?;
                let id = self.u32()?;
                let memory = if kind == HandleKind::ArrayBuffer {
                    // An address is believed only from this process's V8.
                    if !self.owner.is_some_and(|o| o.local_memory) {
                        return Err(corrupt());
                    }
                    Some((self.u64()? as usize, self.u64()? as usize))
                } else {
                    None
                };
                Event::Handle(Handle::from_result(kind, label, id, self.owner, memory))
            }
            tag::BYTES => Event::Bytes(Cow::Borrowed(self.bytes()?)),
            tag::BIG_INT => {
                let negative = self.byte()? != 0;
                let words = self.u32()? as usize;
                self.reserve(words, BIG_INT_WORD_BYTES)?;
                let raw = self.take(words.checked_mul(BIG_INT_WORD_BYTES).ok_or_else(corrupt)?)?;
                let words = raw
                    .chunks_exact(BIG_INT_WORD_BYTES)
                    .map(|w| u64::from_ne_bytes(w.try_into().expect("8-byte chunk")))
                    .collect();
                Event::BigInt(BigInt::from_words(negative, words))
            }
            tag::ARRAY => {
                let n = self.u32()?;
                self.reserve(n as usize, size_of::<Value>())?;
                self.open_container(n, false)?;
                Event::ArrayStart(self.capacity(n))
            }
            tag::OBJECT => {
                let n = self.u32()?;
                self.reserve(n as usize, size_of::<(String, Value)>())?;
                self.open_container(n, true)?;
                Event::ObjectStart(self.capacity(n))
            }
            _ => return Err(corrupt()),
        })
    }

    /// Reads the run of numbers that comes next in the innermost array into
    /// `items`, in one loop (most arrays of data are numbers): what
    /// [`Reader::next_event`] would do for each, without its per-event
    /// steps. Stops before anything else, which `next_event` then reads.
    fn numbers_into(&mut self, items: &mut Vec<Value>) {
        let Some(top) = self.open.last_mut().filter(|top| !top.object) else {
            return;
        };
        while top.remaining > 0 {
            let Some((&tag::NUMBER, rest)) = self.buf.split_first() else {
                break;
            };
            let Some((bytes, rest)) = rest.split_first_chunk::<F64_BYTES>() else {
                break; // truncated: next_event reports it
            };
            items.push(Value::Number(f64::from_ne_bytes(*bytes)));
            self.buf = rest;
            top.remaining -= 1;
        }
    }

    fn open_container(&mut self, n: u32, object: bool) -> Result<(), Error> {
        if n > 0 {
            self.check_depth(self.open.len())?;
        }
        self.open.push(Open {
            remaining: n,
            object,
            keyed: false,
        });
        Ok(())
    }

    /// A string of the encoding, borrowed when it is valid UTF-8 (always,
    /// from the shim; a worker's reply is not trusted).
    fn text(&mut self) -> Result<Cow<'a, str>, Error> {
        let bytes = self.bytes()?;
        Ok(match std::str::from_utf8(bytes) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(bytes),
        })
    }

    pub(crate) fn value(&mut self) -> Result<Value, Error> {
        let mut builder = ValueBuilder::default();
        loop {
            if let Some((Value::Array(items), _)) = builder.stack.last_mut() {
                self.numbers_into(items);
            }
            let event = self.next_event()?;
            if let Some(value) = builder.push(event) {
                return Ok(value);
            }
        }
    }
}

/// One step of reading an encoded value: a scalar, the start of a
/// container (its element count, capped by the bytes left, as a capacity
/// hint), an object's next key, or the end of the innermost container.
/// A value is one scalar, or a start, its contents and an end.
#[derive(Debug)]
pub enum Event<'a> {
    Undefined,
    Null,
    Bool(bool),
    Number(f64),
    BigInt(BigInt),
    String(Cow<'a, str>),
    Date(f64),
    Bytes(Cow<'a, [u8]>),
    Function(Function),
    Handle(Handle),
    ArrayStart(usize),
    /// Followed by (`Key`, value) pairs.
    ObjectStart(usize),
    Key(Cow<'a, str>),
    End,
}

/// Builds a [`Value`] from [`Event`]s.
#[derive(Default)]
struct ValueBuilder {
    stack: Vec<(Value, Option<String>)>,
}

impl ValueBuilder {
    /// Takes the next event; the finished value once it is complete.
    fn push(&mut self, event: Event<'_>) -> Option<Value> {
        let done = match event {
            Event::Undefined => Value::Undefined,
            Event::Null => Value::Null,
            Event::Bool(b) => Value::Bool(b),
            Event::Number(n) => Value::Number(n),
            Event::BigInt(big) => Value::BigInt(big),
            Event::String(s) => Value::String(s.into_owned()),
            Event::Date(ms) => Value::Date(ms),
            Event::Bytes(bytes) => Value::Bytes(bytes.into_owned()),
            Event::Function(f) => Value::Function(f),
            Event::Handle(h) => Value::Handle(h),
            Event::ArrayStart(n) => {
                self.stack.push((Value::Array(Vec::with_capacity(n)), None));
                return None;
            }
            Event::ObjectStart(n) => {
                self.stack
                    .push((Value::Object(Vec::with_capacity(n)), None));
                return None;
            }
            Event::Key(key) => {
                if let Some(top) = self.stack.last_mut() {
                    top.1 = Some(key.into_owned());
                }
                return None;
            }
            Event::End => self.stack.pop().map_or(Value::Undefined, |(v, _)| v),
        };
        match self.stack.last_mut() {
            None => Some(done),
            Some((Value::Array(items), _)) => {
                items.push(done);
                None
            }
            Some((Value::Object(entries), key)) => {
                entries.push((key.take().unwrap_or_default(), done));
                None
            }
            Some(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_encoding_reads_back() {
        let v = Value::Array(vec![
            Value::Undefined,
            Value::Object(vec![
                ("a".into(), Value::Array(vec![])),
                ("b".into(), Value::Number(-0.0)),
            ]),
            Value::BigInt("-123456789012345678901234567890".parse().unwrap()),
            Value::Bytes(vec![1, 2, 3]),
            Value::String("x\0y".into()),
            Value::Date(5.0),
        ]);
        let args = encode_args(std::slice::from_ref(&v), 1000, 1 << 20, 0).unwrap();
        let mut reader = Reader::new(&args);
        let Value::Array(mut outer) = reader.value().unwrap() else {
            panic!("not an array")
        };
        assert!(outer.pop().unwrap().same_value(&v));
    }

    /// The constants generated for Rust are the ones the shim compiled.
    /// Calls the shim: not under Miri, which cannot run C++.
    #[cfg(not(miri))]
    #[test]
    fn rust_and_cpp_agree_on_the_wire_format() {
        let mut count = 0;
        // SAFETY: the shim returns a static table and writes its length.
        let entries = unsafe {
            let table = crate::ffi::v8cage_wire_entries(&mut count);
            std::slice::from_raw_parts(table, count)
        };
        let compiled: Vec<(String, u64)> = entries
            .iter()
            .map(|entry| {
                // SAFETY: names are static NUL-terminated string literals.
                let name = unsafe { std::ffi::CStr::from_ptr(entry.name) };
                (name.to_string_lossy().into_owned(), entry.value)
            })
            .collect();
        let generated: Vec<(String, u64)> = WIRE_ENTRIES
            .iter()
            .map(|(name, value)| (name.to_string(), *value))
            .collect();
        assert_eq!(compiled, generated);
        let tags = [
            tag::UNDEFINED,
            tag::NULL,
            tag::FALSE,
            tag::TRUE,
            tag::NUMBER,
            tag::BIG_INT,
            tag::STRING,
            tag::ARRAY,
            tag::OBJECT,
            tag::DATE,
            tag::BYTES,
            tag::FUNCTION,
        ];
        let distinct: std::collections::BTreeSet<u8> = tags.iter().copied().collect();
        assert_eq!(distinct.len(), tags.len(), "tags are distinct");
    }

    #[test]
    fn max_bigint_bits_matches_the_shim() {
        assert_eq!(MAX_BIGINT_BITS, MAX_BIG_INT_WORDS as u64 * 64);
    }

    #[test]
    fn truncated_encoding_is_an_error_not_a_panic() {
        let args = encode_args(&[Value::from("hello")], 10, 1 << 20, 0).unwrap();
        for cut in 0..args.len() {
            assert!(Reader::new(&args[..cut]).value().is_err());
        }
    }
}
