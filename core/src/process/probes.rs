//! Test fence (feature `sandbox-probes`): what a compromised worker would
//! try first. Each probe returns a non-negative result or `-errno` if the
//! system call returned; under the seccomp filter none returns.

use std::ffi::CString;

/// Which probe to run (the byte of a `PROBE` request).
pub(crate) const OPEN_FILE: u8 = 1;
pub(crate) const OPEN_SOCKET: u8 = 2;
pub(crate) const EXEC_SHELL: u8 = 3;
pub(crate) const SIGNAL_HOST: u8 = 4;

fn result(rc: libc::c_int) -> i32 {
    if rc >= 0 {
        rc
    } else {
        -std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }
}

/// Runs `probe`; `host_pid` is the host's process id (the worker may not
/// ask the kernel for it once sandboxed).
pub(crate) fn run(probe: u8, host_pid: u32) -> i32 {
    match probe {
        OPEN_FILE => {
            let path = CString::new("/etc/passwd").expect("no NUL");
            // SAFETY: `path` is a valid NUL-terminated string for the call.
            result(unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) })
        }
        // SAFETY: no pointers.
        OPEN_SOCKET => result(unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) }),
        EXEC_SHELL => {
            let program = CString::new("/bin/sh").expect("no NUL");
            let args = ["sh", "-c", "exit 7"].map(|a| CString::new(a).expect("no NUL"));
            let argv = [
                args[0].as_ptr(),
                args[1].as_ptr(),
                args[2].as_ptr(),
                std::ptr::null(),
            ];
            let envp = [std::ptr::null()];
            // SAFETY: NUL-terminated strings and NULL-terminated arrays that
            // outlive the call; on success the process image is replaced.
            result(unsafe { libc::execve(program.as_ptr(), argv.as_ptr(), envp.as_ptr()) })
        }
        SIGNAL_HOST => {
            let pid = host_pid as libc::c_long;
            // Signal 0: only asks whether a signal would be allowed.
            // SAFETY: a raw syscall without pointers.
            let rc = unsafe { libc::syscall(libc::SYS_tgkill, pid, pid, 0) };
            result(rc as libc::c_int)
        }
        _ => -libc::EINVAL,
    }
}
