//! The layers a worker process puts between hostile JavaScript and the
//! machine, each applied by the worker to itself, and the report of which
//! ones took effect.

use std::collections::BTreeMap;
use std::fmt;

use seccompiler::{
    SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
};

/// Which sandbox layers a process-isolated context's worker has in effect
/// (see [`Context::isolation_report`](crate::Context::isolation_report)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct IsolationReport {
    /// The worker's process id, as the host sees it.
    pub worker_pid: u32,
    /// A user namespace of its own (no privileges over the host's files and processes).
    pub user_namespace: bool,
    /// A network namespace of its own (no interfaces, not even loopback).
    pub network_namespace: bool,
    /// Every file descriptor closed but its channel, stderr pipe and `/dev/null` stdin/stdout.
    pub inherited_fds_closed: bool,
    /// `PR_SET_NO_NEW_PRIVS`: no exec can gain privileges.
    pub no_new_privs: bool,
    /// The seccomp-bpf allow-list: any other system call kills the worker with `SIGSYS`.
    pub seccomp: bool,
    /// `RLIMIT_AS` in bytes: wasm, ICU and other memory V8's heap limit does not
    /// count cannot grow past it. `None` where the process already reserves a
    /// terabyte or more: the V8 sandbox (the current V8) or a sanitizer's
    /// shadow memory; the resident-memory bound is the bound there.
    pub address_space_limit: Option<u64>,
    /// The resident memory (RSS) the host lets the worker use during an
    /// evaluation: twice the heap limit plus 256 MiB; past it the host kills
    /// the worker and the evaluation ends in `Error::OutOfMemory`. `None` in
    /// sanitizer builds, whose shadow memory inflates the resident set.
    pub resident_memory_bound: Option<u64>,
    /// V8's own sandbox is on in the worker (pointer compression with the
    /// heap and ArrayBuffers in a reserved region): the current V8 has it,
    /// Debian's 10.2 does not.
    pub v8_sandbox: bool,
    /// `RLIMIT_NOFILE`, `RLIMIT_FSIZE` and `RLIMIT_CORE` lowered (no new
    /// files, no file growth, no core dumps).
    pub file_limits: bool,
}

impl IsolationReport {
    /// The worker's report; `heap_limit` is the heap limit its isolate runs
    /// under, from which the host sets the resident-memory bound.
    pub(crate) fn encode(&self, heap_limit: u64) -> [u8; 24] {
        let flags = [
            self.user_namespace,
            self.network_namespace,
            self.inherited_fds_closed,
            self.no_new_privs,
            self.seccomp,
            self.file_limits,
            self.v8_sandbox,
        ]
        .iter()
        .enumerate()
        .fold(0u64, |acc, (bit, on)| acc | (u64::from(*on) << bit));
        let mut out = [0; 24];
        out[..8].copy_from_slice(&flags.to_le_bytes());
        out[8..16].copy_from_slice(&self.address_space_limit.unwrap_or(0).to_le_bytes());
        out[16..].copy_from_slice(&heap_limit.to_le_bytes());
        out
    }

    pub(crate) fn decode(
        flags: u64,
        address_space: u64,
        resident_memory_bound: Option<u64>,
        worker_pid: u32,
    ) -> IsolationReport {
        let bit = |n: u32| flags & (1 << n) != 0;
        IsolationReport {
            worker_pid,
            user_namespace: bit(0),
            network_namespace: bit(1),
            inherited_fds_closed: bit(2),
            no_new_privs: bit(3),
            seccomp: bit(4),
            file_limits: bit(5),
            v8_sandbox: bit(6),
            address_space_limit: (address_space != 0).then_some(address_space),
            resident_memory_bound,
        }
    }
}

impl fmt::Display for IsolationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on = |b: bool| if b { "on" } else { "off" };
        writeln!(f, "worker pid            {}", self.worker_pid)?;
        writeln!(f, "user namespace        {}", on(self.user_namespace))?;
        writeln!(f, "network namespace     {}", on(self.network_namespace))?;
        writeln!(f, "inherited fds closed  {}", on(self.inherited_fds_closed))?;
        writeln!(f, "no_new_privs          {}", on(self.no_new_privs))?;
        writeln!(f, "seccomp allow-list    {}", on(self.seccomp))?;
        writeln!(f, "V8 sandbox            {}", on(self.v8_sandbox))?;
        match self.address_space_limit {
            Some(bytes) => writeln!(f, "RLIMIT_AS             {} MiB", bytes >> 20)?,
            None => writeln!(
                f,
                "RLIMIT_AS             off (a terabyte reserved: V8 sandbox or sanitizer shadow)"
            )?,
        }
        match self.resident_memory_bound {
            Some(bytes) => writeln!(f, "resident memory bound {} MiB", bytes >> 20)?,
            None => writeln!(f, "resident memory bound off (sanitizer build)")?,
        }
        write!(f, "file/core rlimits     {}", on(self.file_limits))
    }
}

/// New user and network namespaces. Only possible while the process has one
/// thread, so the worker does it first; `false` where the kernel refuses
/// unprivileged namespaces.
pub(crate) fn enter_namespaces() -> (bool, bool) {
    // SAFETY: unshare has no memory effects; it fails cleanly (EINVAL/EPERM)
    // where not allowed.
    if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) } == 0 {
        return (true, true);
    }
    // SAFETY: as above.
    let user = unsafe { libc::unshare(libc::CLONE_NEWUSER) } == 0;
    (user, false)
}

/// One malloc arena for all threads: glibc reads
/// `/proc/sys/vm/overcommit_memory` the first time it shrinks a thread's
/// own arena, which the sandbox would punish with SIGSYS.
pub(crate) fn one_malloc_arena() {
    #[cfg(target_env = "gnu")]
    // SAFETY: a malloc tuning call made before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Closes every descriptor from `first` on (the channel was moved below it).
/// The system call, not glibc's `close_range` wrapper: that needs glibc
/// 2.34, and the manylinux_2_28 wheel loads on 2.28 (the wrapper left an
/// undefined symbol there). Kernels before 5.9 (RHEL 8's 4.18, a
/// manylinux_2_28 system) lack the call: then each descriptor that
/// `/proc/self/fd` lists is closed.
pub(crate) fn close_fds_from(first: u32) -> bool {
    // SAFETY: closes only descriptors this process owns and no Rust object
    // refers to: the worker's own sockets sit below `first`.
    let closed = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) == 0 };
    closed || close_listed_fds_from(first)
}

/// `close_fds_from` without `close_range`: each descriptor from `first` on
/// that `/proc/self/fd` lists.
fn close_listed_fds_from(first: u32) -> bool {
    let Ok(listing) = std::fs::read_dir("/proc/self/fd") else {
        return false;
    };
    // Collected first: the listing holds a descriptor of its own while open.
    let open: Vec<i32> = listing
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd: &i32| fd as u32 >= first)
        .collect();
    for fd in open {
        // SAFETY: as in `close_fds_from`; the listing's own descriptor is
        // closed already (EBADF, ignored).
        unsafe { libc::close(fd) };
    }
    true
}

/// Virtual memory of this process now, from `/proc/self/status` (`VmSize`).
pub(crate) fn current_address_space() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmSize:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A sanitizer runtime reserves terabytes of shadow memory up front, and the
/// V8 sandbox about one: an address-space limit means nothing past it.
const TERABYTE_RESERVED: u64 = 1 << 40;

/// Room for one of V8's largest objects (~1 GiB, as the shim grants past
/// the heap limit in-process): a backstop against address-space blow-ups
/// that also lets a large WebAssembly memory be reserved and then refused
/// by the heap limit; what is used is bounded by the host's resident watch.
const LARGEST_OBJECT_ROOM: u64 = 1280 << 20;

/// Limits the address space to what the process uses now plus room for a
/// heap of `heap_limit` bytes twice over (V8 copies while it collects), one
/// of V8's largest objects, and 256 MiB of code, stacks and small wasm
/// memories.
pub(crate) fn limit_address_space(heap_limit: u64) -> Option<u64> {
    let now = current_address_space()?;
    if now >= TERABYTE_RESERVED {
        return None;
    }
    let limit = now
        .saturating_add(heap_limit.saturating_mul(2))
        .saturating_add(LARGEST_OBJECT_ROOM)
        .saturating_add(256 << 20);
    set_rlimit(libc::RLIMIT_AS, limit).then_some(limit)
}

/// No new descriptors, no file growth, no core dumps.
pub(crate) fn limit_files() -> bool {
    // Descriptors 0-4 stay usable; a limit below an open descriptor's number
    // only stops new ones.
    set_rlimit(libc::RLIMIT_NOFILE, 5)
        & set_rlimit(libc::RLIMIT_FSIZE, 0)
        & set_rlimit(libc::RLIMIT_CORE, 0)
}

fn set_rlimit(resource: libc::__rlimit_resource_t, value: u64) -> bool {
    let limit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: `limit` is a valid rlimit for the duration of the call.
    unsafe { libc::setrlimit(resource, &limit) == 0 }
}

pub(crate) fn set_no_new_privs() -> bool {
    // SAFETY: a prctl without pointers.
    unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 }
}

#[cfg(target_arch = "x86_64")]
const ARCH: seccompiler::TargetArch = seccompiler::TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const ARCH: seccompiler::TargetArch = seccompiler::TargetArch::aarch64;

/// What V8, glibc and the worker loop call once V8 runs: memory, threads,
/// time, signals for abort, I/O on descriptors already open. Absent on
/// purpose: every `open*`, `socket`, `connect`, `bind`, `execve*`, `fork`,
/// `ptrace`, `kill`, `unshare`, `mount`, `setrlimit`. `clone` (threads
/// only) and `tgkill` (itself only) are added with conditions.
fn allowed_syscalls() -> Vec<libc::c_long> {
    let common = [
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_readv,
        libc::SYS_writev,
        libc::SYS_close,
        libc::SYS_fstat,
        libc::SYS_newfstatat,
        libc::SYS_lseek,
        libc::SYS_mmap,
        libc::SYS_munmap,
        libc::SYS_mprotect,
        libc::SYS_madvise,
        libc::SYS_mremap,
        libc::SYS_brk,
        libc::SYS_rt_sigaction,
        libc::SYS_rt_sigprocmask,
        libc::SYS_rt_sigreturn,
        libc::SYS_sigaltstack,
        libc::SYS_futex,
        libc::SYS_set_robust_list,
        libc::SYS_rseq,
        libc::SYS_exit,
        libc::SYS_exit_group,
        libc::SYS_gettid,
        libc::SYS_getpid,
        libc::SYS_sched_yield,
        libc::SYS_sched_getaffinity,
        // V8 15's threads read their own scheduling (pthread_getschedparam).
        libc::SYS_sched_getparam,
        libc::SYS_sched_getscheduler,
        libc::SYS_clock_gettime,
        libc::SYS_clock_getres,
        libc::SYS_clock_nanosleep,
        libc::SYS_nanosleep,
        libc::SYS_gettimeofday,
        libc::SYS_getrandom,
        libc::SYS_ppoll,
        libc::SYS_recvfrom,
        libc::SYS_sendto,
        libc::SYS_recvmsg,
        libc::SYS_sendmsg,
        libc::SYS_getrusage,
        libc::SYS_prctl,
        libc::SYS_membarrier,
        // Refused with ENOSYS by a second filter, so glibc falls back to
        // `clone`, whose flags a filter can inspect (clone3 passes a pointer).
        libc::SYS_clone3,
    ];
    // The legacy calls x86_64's glibc still makes (aarch64 never had them).
    #[cfg(target_arch = "x86_64")]
    let legacy: &[libc::c_long] = &[libc::SYS_poll, libc::SYS_arch_prctl];
    #[cfg(not(target_arch = "x86_64"))]
    let legacy: &[libc::c_long] = &[];
    common.iter().chain(legacy).copied().collect()
}

fn filter_error(e: seccompiler::BackendError) -> String {
    format!("seccomp filter: {e}")
}

/// Installs the allow-list on every thread of the process (TSYNC): a
/// system call outside it kills the whole worker with `SIGSYS`. `clone` is
/// allowed only for threads (`CLONE_THREAD`), never for a new process, and
/// `tgkill` only towards the worker itself.
pub(crate) fn install_seccomp() -> Result<(), String> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = allowed_syscalls()
        .into_iter()
        .map(|call| (call, Vec::new()))
        .collect();
    let thread_only = SeccompCondition::new(
        0,
        SeccompCmpArgLen::Qword,
        SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64),
        libc::CLONE_THREAD as u64,
    )
    .map_err(filter_error)?;
    rules.insert(
        libc::SYS_clone,
        vec![SeccompRule::new(vec![thread_only]).map_err(filter_error)?],
    );
    // Signals only to itself (abort() raises SIGABRT with tgkill): the
    // worker's user id is the host's, so it could otherwise signal the
    // host's other processes.
    // SAFETY: getpid has no preconditions.
    let own_pid = unsafe { libc::getpid() } as u64;
    let to_itself = SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, own_pid)
        .map_err(filter_error)?;
    rules.insert(
        libc::SYS_tgkill,
        vec![SeccompRule::new(vec![to_itself]).map_err(filter_error)?],
    );
    let allow_list = SeccompFilter::new(
        rules,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        ARCH,
    )
    .map_err(filter_error)?;
    let no_clone3 = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        ARCH,
    )
    .map_err(filter_error)?;
    // `no_clone3` first: once the allow-list is in, `seccomp` itself is refused.
    for filter in [no_clone3, allow_list] {
        let program: seccompiler::BpfProgram = filter.try_into().map_err(filter_error)?;
        seccompiler::apply_filter_all_threads(&program).map_err(|e| format!("seccomp: {e}"))?;
    }
    Ok(())
}

// Descriptors 900 and up: no other test of this binary opens that many.
#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;

    fn is_open(fd: i32) -> bool {
        // SAFETY: F_GETFD only reads the descriptor's flags.
        unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
    }

    /// A pipe, its ends also duplicated onto `high` and `high + 1`.
    fn pipe_with_copies_at(high: i32) -> [i32; 2] {
        assert!(!is_open(high) && !is_open(high + 1));
        let mut ends = [0; 2];
        // SAFETY: pipe writes two descriptors into `ends`; dup2 targets
        // descriptors checked unused above.
        unsafe {
            assert_eq!(libc::pipe(ends.as_mut_ptr()), 0);
            assert_eq!(libc::dup2(ends[0], high), high);
            assert_eq!(libc::dup2(ends[1], high + 1), high + 1);
        }
        ends
    }

    fn check_closes_from(close: fn(u32) -> bool, high: i32) {
        let low = pipe_with_copies_at(high);
        assert!(close(high as u32));
        assert!(!is_open(high) && !is_open(high + 1));
        assert!(
            is_open(low[0]) && is_open(low[1]),
            "below `first` stays open"
        );
        // SAFETY: the pipe's own ends, owned by this test.
        unsafe {
            libc::close(low[0]);
            libc::close(low[1]);
        }
    }

    // One test: each closes everything from its `first` on.
    #[test]
    fn close_fds_from_and_its_fallback_close_from_first_on_and_nothing_below() {
        check_closes_from(close_fds_from, 900);
        // What kernels before 5.9 get.
        check_closes_from(close_listed_fds_from, 900);
    }
}
