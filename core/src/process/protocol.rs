//! The frames host and worker exchange over their socket: a little-endian
//! `u32` body length, then the body. The host reads every reply as hostile:
//! [`read_frame`] refuses lengths over the caller's bound before allocating,
//! and [`Fields`] fails (never panics) on short or surplus input.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

/// Request kinds (first body byte).
pub(crate) mod kind {
    pub const CREATE: u8 = 1;
    pub const EVAL: u8 = 2;
    pub const CALL: u8 = 3;
    pub const CALL_FUNCTION: u8 = 4;
    pub const HEAP_STATS: u8 = 5;
    pub const SET_MEMORY_LIMITS: u8 = 6;
    pub const MEMORY_LIMITS_REACHED: u8 = 7;
    pub const LOW_MEMORY: u8 = 8;
    pub const HANDLE_OP: u8 = 10;
    /// A snapshot-creating worker's snapshot blob.
    pub const TAKE_SNAPSHOT: u8 = 12;
    /// Host -> worker, during an evaluation: a host function's outcome
    /// (i32 status as `v8cage_host_call` returns it, then its bytes).
    pub const CALLBACK_REPLY: u8 = 11;
    /// Test-only sandbox probes (feature `sandbox-probes`).
    #[cfg(feature = "sandbox-probes")]
    pub const PROBE: u8 = 9;
}

/// The status of a worker -> host frame that is not the reply but a call
/// of a host function from the running evaluation: u32 callback id, then
/// the encoded arguments. The host answers with `kind::CALLBACK_REPLY` and
/// waits for the reply again.
pub(crate) const STATUS_CALLBACK: i32 = -2;

/// Bytes a reply may carry besides a result of `max_result_bytes`: status,
/// error texts the shim bounds, heap figures.
pub(crate) const REPLY_OVERHEAD: usize = 1 << 20;

/// Builds one frame; [`Frame::finish`] fills in the length.
pub(crate) struct Frame(Vec<u8>);

impl Frame {
    pub(crate) fn new(kind: u8) -> Frame {
        let mut bytes = Vec::with_capacity(64);
        bytes.extend_from_slice(&[0; 4]);
        bytes.push(kind);
        Frame(bytes)
    }

    /// A reply frame (no kind byte).
    pub(crate) fn reply() -> Frame {
        Frame(vec![0; 4])
    }

    pub(crate) fn u8(mut self, v: u8) -> Frame {
        self.0.push(v);
        self
    }
    pub(crate) fn u32(mut self, v: u32) -> Frame {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn u64(mut self, v: u64) -> Frame {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn i32(self, v: i32) -> Frame {
        self.u32(v as u32)
    }
    /// A length-prefixed byte string.
    pub(crate) fn bytes(self, v: &[u8]) -> Frame {
        let mut f = self.u64(v.len() as u64);
        f.0.extend_from_slice(v);
        f
    }
    /// The rest of the body, unprefixed.
    pub(crate) fn tail(mut self, v: &[u8]) -> Frame {
        self.0.extend_from_slice(v);
        self
    }
    pub(crate) fn duration(self, v: Option<Duration>) -> Frame {
        // 0: none; a zero timeout is sent as 1 ns (it stops at once either way).
        let nanos = v.map_or(0, |d| {
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
        });
        self.u64(nanos)
    }
    pub(crate) fn u32s(self, v: &[u32]) -> Frame {
        let mut f = self.u64(v.len() as u64);
        for id in v {
            f = f.u32(*id);
        }
        f
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        let len = (self.0.len() - 4) as u32;
        self.0[..4].copy_from_slice(&len.to_le_bytes());
        self.0
    }
}

/// Why a frame could not be read: the peer is gone, or broke the protocol.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// End of stream or an I/O error: the peer closed or died.
    Closed(io::Error),
    /// A length over the bound, or a body that does not parse.
    Malformed(String),
}

/// Reads one frame body of at most `max_len` bytes.
pub(crate) fn read_frame(stream: &mut impl Read, max_len: usize) -> Result<Vec<u8>, FrameError> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).map_err(FrameError::Closed)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > max_len {
        return Err(FrameError::Malformed(format!(
            "a frame of {len} bytes, over the bound of {max_len}"
        )));
    }
    let mut body = vec![0; len];
    stream.read_exact(&mut body).map_err(FrameError::Closed)?;
    Ok(body)
}

/// Writes all of `bytes`, without SIGPIPE if the peer is gone (`send` with
/// `MSG_NOSIGNAL`: a Python host does not ignore SIGPIPE everywhere, and a
/// dead worker must be an error, not a signal).
pub(crate) fn send_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: `fd` is an open socket borrowed for the call; the pointer
        // and length describe the live slice `bytes`.
        let sent = unsafe {
            libc::send(
                fd.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if sent < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        bytes = &bytes[sent as usize..];
    }
    Ok(())
}

/// How long each side polls for the other's next frame before blocking:
/// a blocked reader's wake-up costs ~15 µs per direction on a VM, which
/// was most of a 40 µs `eval("1+1")`; polling for a short while keeps the
/// common round trip under that, at the price of this much spinning after
/// each frame.
pub(crate) const POLL_BEFORE_BLOCKING: Duration = Duration::from_micros(50);

/// Polls `fd` until it has bytes to read (or the peer closed) or `limit`
/// passes; the caller's blocking read follows either way.
pub(crate) fn poll_readable(fd: BorrowedFd<'_>, limit: Duration) {
    let started = std::time::Instant::now();
    let mut probe = 0u8;
    loop {
        // SAFETY: peeks at most one byte into a local; `fd` is an open socket.
        let peeked = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                (&raw mut probe).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if peeked >= 0 || started.elapsed() >= limit {
            return;
        }
        let err = io::Error::last_os_error().kind();
        if err != io::ErrorKind::WouldBlock && err != io::ErrorKind::Interrupted {
            return;
        }
        std::hint::spin_loop();
    }
}

/// Reads the fields of a frame body in order.
pub(crate) struct Fields<'a>(&'a [u8]);

fn short() -> FrameError {
    FrameError::Malformed("a frame ends early".into())
}

impl<'a> Fields<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Fields<'a> {
        Fields(body)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        if self.0.len() < n {
            return Err(short());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32, FrameError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| short())?,
        ))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, FrameError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().map_err(|_| short())?,
        ))
    }
    pub(crate) fn i32(&mut self) -> Result<i32, FrameError> {
        Ok(self.u32()? as i32)
    }
    pub(crate) fn usize(&mut self) -> Result<usize, FrameError> {
        usize::try_from(self.u64()?)
            .map_err(|_| FrameError::Malformed("a size beyond usize".into()))
    }
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], FrameError> {
        let n = self.usize()?;
        self.take(n)
    }
    pub(crate) fn str(&mut self) -> Result<&'a str, FrameError> {
        std::str::from_utf8(self.bytes()?)
            .map_err(|_| FrameError::Malformed("a string that is not UTF-8".into()))
    }
    pub(crate) fn duration(&mut self) -> Result<Option<Duration>, FrameError> {
        Ok(match self.u64()? {
            0 => None,
            nanos => Some(Duration::from_nanos(nanos)),
        })
    }
    pub(crate) fn u32s(&mut self) -> Result<Vec<u32>, FrameError> {
        let n = self.usize()?;
        if n > self.0.len() / 4 {
            return Err(short());
        }
        (0..n).map(|_| self.u32()).collect()
    }
    /// Fails unless every byte was read.
    pub(crate) fn end(&self) -> Result<(), FrameError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Malformed(format!(
                "{} bytes after the last field",
                self.0.len()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_back_what_a_frame_wrote() {
        let frame = Frame::new(kind::EVAL)
            .u64(7)
            .duration(Some(Duration::from_millis(5)))
            .u32s(&[1, 2])
            .bytes(b"1+1")
            .finish();
        let body = read_frame(&mut &frame[..], 100).unwrap();
        let mut f = Fields::new(&body);
        assert_eq!(f.u8().unwrap(), kind::EVAL);
        assert_eq!(f.u64().unwrap(), 7);
        assert_eq!(f.duration().unwrap(), Some(Duration::from_millis(5)));
        assert_eq!(f.u32s().unwrap(), vec![1, 2]);
        assert_eq!(f.str().unwrap(), "1+1");
        f.end().unwrap();
    }

    #[test]
    fn a_length_over_the_bound_is_refused_before_allocating() {
        let frame = u32::MAX.to_le_bytes();
        assert!(matches!(
            read_frame(&mut &frame[..], 1 << 20),
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn a_count_beyond_the_body_is_malformed() {
        let body = Frame::reply().u64(u64::MAX).finish();
        assert!(Fields::new(&body[4..]).u32s().is_err());
        assert!(Fields::new(&body[4..]).bytes().is_err());
    }
}
