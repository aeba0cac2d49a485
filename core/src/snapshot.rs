//! Startup snapshots: [`Snapshot::create`] runs a setup script once in an
//! isolate made by V8's `SnapshotCreator` and keeps the state it left;
//! [`ContextOptions::snapshot`](crate::ContextOptions::snapshot) starts a
//! context from it instead of from V8's built-in state.
//!
//! A snapshot's bytes ([`Snapshot::to_bytes`]) carry what they were made
//! by — V8's version, the build's sandbox and heap cage, the V8 flags — and
//! a SHA-256 of all of it; [`Snapshot::from_bytes`] refuses bytes that do
//! not match this process (another V8 or build, truncated, corrupted) as
//! [`Error::InvalidInput`] before V8 sees them. The check is against
//! accidents, not forgery: V8 trusts a snapshot as it trusts code, so a
//! snapshot from an untrusted source belongs in a process context, whose
//! worker a crafted snapshot can only crash.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::context::{Context, ContextOptions};
use crate::{ffi, Error, Isolation};

/// The state a setup script left in a context, to start contexts from.
/// Cloning shares the bytes.
#[derive(Clone)]
pub struct Snapshot(Arc<Made>);

struct Made {
    /// V8's blob.
    blob: Vec<u8>,
    /// The V8 flags it was made under (normalised): a context must run
    /// with the same ones.
    flags: String,
}

const MAGIC: &[u8; 16] = b"v8cage snapshot\0";
const FORMAT: u32 = 1;

impl Snapshot {
    /// Runs `setup_js` in a fresh context (no timeout, V8's default heap)
    /// and keeps the state it leaves: its globals, functions (compiled),
    /// classes, objects. The setup always runs in a worker process: V8
    /// aborts on state it cannot keep (FinalizationRegistries, Intl
    /// objects), which is then [`Error::InvalidInput`], not the end of this
    /// process.
    pub fn create(setup_js: &str) -> Result<Snapshot, Error> {
        Snapshot::create_with(setup_js, &ContextOptions::default())
    }

    /// [`Snapshot::create`] under `options`' limits: `timeout`,
    /// `cpu_time_limit`, `heap_limit`, `kill_grace` and `v8_flags` (the
    /// worker's; `isolation` only says where the contexts will run, for
    /// the flags they must share). The script's errors are the matching
    /// [`Error`]; its completion value is not read. Timers, host functions,
    /// `WebAssembly` and `SharedArrayBuffer` are not available to it (V8
    /// cannot keep native functions in a snapshot and leaves the others out
    /// of a snapshot-making isolate; contexts started from the snapshot
    /// have them). A `snapshot` or `module_loader` in `options` is
    /// [`Error::InvalidInput`]. The snapshot's size is bounded by
    /// `max_result_bytes` ([`Error::Conversion`]).
    pub fn create_with(setup_js: &str, options: &ContextOptions) -> Result<Snapshot, Error> {
        if options.snapshot.is_some() || options.module_loader.is_some() {
            return Err(Error::InvalidInput(
                "a snapshot is made from V8's own state, without a module loader".into(),
            ));
        }
        let options = ContextOptions {
            event_loop: false,
            object_handles: false,
            ..options.clone()
        };
        let flags = context_flags(&options)?;
        let mut ctx = Context::snapshot_creator(ContextOptions {
            isolation: Isolation::Process,
            ..options
        })?;
        // On a line of its own: a final line comment cannot swallow it.
        ctx.eval(&format!("{setup_js}\n;void 0"))?;
        let blob = ctx.take_snapshot().map_err(|e| match e {
            Error::Crashed { message, .. } => Error::InvalidInput(format!(
                "V8 cannot keep the state the setup left in a snapshot \
                 (FinalizationRegistries, Intl objects...); it aborted: {message}"
            )),
            other => other,
        })?;
        Ok(Snapshot(Arc::new(Made { blob, flags })))
    }

    /// The snapshot as bytes to store, for [`Snapshot::from_bytes`] in a
    /// process running the same V8 build.
    pub fn to_bytes(&self) -> Vec<u8> {
        let version = crate::v8_version();
        let mut bytes = Vec::with_capacity(self.0.blob.len() + 128);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&FORMAT.to_le_bytes());
        for part in [
            version.as_bytes(),
            build().as_bytes(),
            self.0.flags.as_bytes(),
            &self.0.blob,
        ] {
            bytes.extend_from_slice(&(part.len() as u64).to_le_bytes());
            bytes.extend_from_slice(part);
        }
        let digest = Sha256::digest(&bytes);
        bytes.extend_from_slice(&digest);
        bytes
    }

    /// A snapshot from [`Snapshot::to_bytes`]' bytes: [`Error::InvalidInput`]
    /// unless they are whole and unchanged and were made by this V8 build.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Snapshot, Error> {
        let invalid = |why: &str| Error::InvalidInput(format!("not a usable snapshot: {why}"));
        let digest_at = bytes
            .len()
            .checked_sub(32)
            .filter(|&at| at >= MAGIC.len() + 4)
            .ok_or_else(|| invalid("too short"))?;
        if &bytes[..MAGIC.len()] != MAGIC {
            return Err(invalid("not made by v8cage"));
        }
        if Sha256::digest(&bytes[..digest_at])[..] != bytes[digest_at..] {
            return Err(invalid("truncated or corrupted (checksum mismatch)"));
        }
        let mut rest = &bytes[MAGIC.len()..digest_at];
        let format = u32::from_le_bytes(take(&mut rest, 4)?.try_into().expect("4 bytes"));
        if format != FORMAT {
            return Err(invalid(&format!(
                "format {format}, this v8cage reads {FORMAT}"
            )));
        }
        let version = part(&mut rest)?;
        let made_by = part(&mut rest)?;
        let flags = part(&mut rest)?;
        let blob = part(&mut rest)?;
        if !rest.is_empty() {
            return Err(invalid("trailing bytes"));
        }
        if version != crate::v8_version().as_bytes() {
            return Err(invalid(&format!(
                "made by V8 {}, this is V8 {}",
                String::from_utf8_lossy(version),
                crate::v8_version()
            )));
        }
        if made_by != build().as_bytes() {
            return Err(invalid(&format!(
                "made by another build of V8 ({}; this one: {})",
                String::from_utf8_lossy(made_by),
                build()
            )));
        }
        crate::engine::ensure_initialised()?;
        // SAFETY: `blob` is valid for its length during the call.
        if unsafe { ffi::v8cage_snapshot_valid(blob.as_ptr(), blob.len()) } != 1 {
            return Err(invalid("V8 does not accept it"));
        }
        let flags = String::from_utf8(flags.to_vec()).map_err(|_| invalid("flags are not text"))?;
        Ok(Snapshot(Arc::new(Made {
            blob: blob.to_vec(),
            flags,
        })))
    }

    /// The size of V8's blob, in bytes.
    pub fn len(&self) -> usize {
        self.0.blob.len()
    }

    /// Always false: V8 makes no empty snapshot.
    pub fn is_empty(&self) -> bool {
        self.0.blob.is_empty()
    }

    /// V8's blob, for the shim.
    pub(crate) fn blob(&self) -> &[u8] {
        &self.0.blob
    }

    /// A snapshot around a blob the host sent a worker.
    pub(crate) fn from_host(blob: Vec<u8>) -> Snapshot {
        Snapshot(Arc::new(Made {
            blob,
            flags: String::new(),
        }))
    }

    /// [`Error::InvalidInput`] unless a context with `options` runs V8 with
    /// the flags this snapshot was made under (V8 refuses others by
    /// aborting).
    pub(crate) fn check_usable(&self, options: &ContextOptions) -> Result<(), Error> {
        let flags = context_flags(options)?;
        if flags != self.0.flags {
            return Err(Error::InvalidInput(format!(
                "the snapshot was made under the V8 flags {:?}; this context runs with {flags:?}",
                self.0.flags
            )));
        }
        Ok(())
    }
}

/// Two snapshots are equal when they share their bytes (clones).
impl PartialEq for Snapshot {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Snapshot {}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("bytes", &self.0.blob.len())
            .finish_non_exhaustive()
    }
}

/// What of the V8 build a snapshot depends on besides its version.
fn build() -> String {
    let sandbox = crate::v8_sandboxed().unwrap_or(false);
    format!(
        "sandbox {}, heap cage {}",
        if sandbox { "on" } else { "off" },
        crate::max_heap_limit()
    )
}

/// The V8 flags a context with `options` runs under, normalised.
fn context_flags(options: &ContextOptions) -> Result<String, Error> {
    let process = match options.isolation {
        Isolation::InProcess => crate::engine::started_flags()?,
        Isolation::Process => crate::engine::flags_for_workers(),
    };
    let worker = match options.isolation {
        Isolation::InProcess => "",
        Isolation::Process => options.v8_flags.as_str(),
    };
    Ok(process
        .split_whitespace()
        .chain(worker.split_whitespace())
        .collect::<Vec<_>>()
        .join(" "))
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], Error> {
    if rest.len() < n {
        return Err(Error::InvalidInput(
            "not a usable snapshot: truncated".into(),
        ));
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn part<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], Error> {
    let len = u64::from_le_bytes(take(rest, 8)?.try_into().expect("8 bytes"));
    let len = usize::try_from(len)
        .map_err(|_| Error::InvalidInput("not a usable snapshot: truncated".into()))?;
    take(rest, len)
}
