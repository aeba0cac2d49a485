//! `v8cage-reprl`: v8cage as a Fuzzilli target. It speaks REPRL (read-eval-
//! print-reset loop) exactly as Fuzzilli's `libreprl` expects, on the
//! descriptors Fuzzilli's child gets: control in/out 100/101, data in/out
//! 102/103. After a `HELO` handshake each execution is `exec` + an 8-byte
//! length on the control channel and the script on the data channel; the
//! answer is a 32-bit status (0: the program ended normally; exit status 1
//! in bits 8-15: an uncaught exception, as d8 reports it; a signal number
//! in bits 0-7: a crash). The `fuzzilli` builtin is d8's: `FUZZILLI_CRASH`
//! for Fuzzilli's crash self-test, `FUZZILLI_PRINT` to the fuzzout channel.
//! Edge coverage goes to Fuzzilli's shared-memory bitmap (`src/coverage.c`).
//!
//! Programs run in one reused context, renewed as the libFuzzer targets do
//! (every 1,000 programs, and when it is no longer usable). With
//! `--isolation process` it lives in a cage worker: a crash there is
//! answered as a crash (the worker's signal, or SIGABRT), and a worker
//! that hangs is Fuzzilli's timeout to see, as for d8. Any other argument
//! starting with `--` is a V8 flag (Fuzzilli's profiles pass d8's), checked
//! as `v8cage::set_flags` checks them; one refused is named on stderr and
//! left out.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use v8cage::{Context, ContextOptions, Error, Isolation, Value};

const CONTROL_IN: RawFd = 100;
const CONTROL_OUT: RawFd = 101;
const DATA_IN: RawFd = 102;
const DATA_OUT: RawFd = 103;
/// Fuzzilli's REPRL_MAX_DATA_SIZE: no script is longer.
const MAX_SCRIPT: u64 = 16 << 20;
/// Programs a context runs before it is replaced (the libFuzzer targets' bound).
const PROGRAMS_PER_CONTEXT: u32 = 1000;

extern "C" {
    fn v8cage_cov_reset_edge_guards();
    fn v8cage_cov_edges() -> u32;
    fn v8cage_fuzzilli_crash(kind: std::os::raw::c_int);
}

/// Status words (libreprl.h): exit status in bits 8-15, signal in 0-7.
const STATUS_OK: u32 = 0;
const STATUS_EXCEPTION: u32 = 1 << 8;

#[derive(clap::Parser)]
#[command(about = "v8cage as a Fuzzilli REPRL target (started by Fuzzilli, not by hand)")]
struct Args {
    /// Where V8 runs: in this process, or in a sandboxed worker.
    #[arg(long, default_value = "in-process")]
    isolation: String,
    /// Our own timeout per program, in milliseconds; none by default, so
    /// that Fuzzilli's timeout decides (it kills and restarts the target).
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Print the number of instrumented edges and exit (a check of the
    /// build: 0 means no coverage).
    #[arg(long)]
    print_edges: bool,
    /// No REPRL: run these files (given in place of V8 flags) this many
    /// times in all, with the same limits and context reuse, and print the
    /// executions per second, the figure to compare REPRL's with.
    #[arg(long, value_name = "EXECUTIONS")]
    direct: Option<u64>,
    /// V8 flags (e.g. Fuzzilli's `--allow-natives-syntax --fuzzing`).
    #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
    v8_flags: Vec<String>,
}

/// The REPRL channels. Fuzzilli opens them before `execve`; they are used
/// through these files only, for the whole process.
struct Channels {
    control_in: File,
    control_out: File,
    data_in: File,
    data_out: Arc<Mutex<File>>,
}

impl Channels {
    fn open() -> Result<Channels, String> {
        for fd in [CONTROL_IN, CONTROL_OUT, DATA_IN, DATA_OUT] {
            // SAFETY: F_GETFD only asks whether the descriptor is open.
            if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
                return Err(format!(
                    "descriptor {fd} is not open: this program is started by Fuzzilli (REPRL), not by hand"
                ));
            }
        }
        // SAFETY: the four descriptors are open (checked above), were given to
        // this process by Fuzzilli for REPRL, and are owned by these files
        // alone from here on.
        unsafe {
            Ok(Channels {
                control_in: File::from_raw_fd(CONTROL_IN),
                control_out: File::from_raw_fd(CONTROL_OUT),
                data_in: File::from_raw_fd(DATA_IN),
                data_out: Arc::new(Mutex::new(File::from_raw_fd(DATA_OUT))),
            })
        }
    }
}

fn main() {
    let args: Args = clap::Parser::parse();
    if args.print_edges {
        // SAFETY: reads a counter of the coverage runtime.
        println!("{}", unsafe { v8cage_cov_edges() });
        return;
    }
    let result = match args.direct {
        Some(executions) => direct(&args, executions),
        None => reprl(&args),
    };
    if let Err(message) = result {
        eprintln!("v8cage-reprl: {message}");
        std::process::exit(2);
    }
}

/// Runs programs one after another in a reused context, as Fuzzilli's
/// executions and as `--direct`.
struct Runner {
    options: ContextOptions,
    fuzzout: Arc<Mutex<File>>,
    context: Option<(Context, u32)>,
}

impl Runner {
    fn new(args: &Args, fuzzout: Arc<Mutex<File>>) -> Result<Runner, String> {
        let isolation = match args.isolation.as_str() {
            "in-process" => Isolation::InProcess,
            "process" => Isolation::Process,
            other => return Err(format!("--isolation is in-process or process, not {other}")),
        };
        Ok(Runner {
            options: ContextOptions {
                isolation,
                timeout: args.timeout_ms.map(Duration::from_millis),
                ..v8cage_harness::fuzz_options()
            },
            fuzzout,
            context: None,
        })
    }

    /// One program: its REPRL status.
    fn run(&mut self, script: &str) -> Result<u32, String> {
        let (ctx, programs) = match &mut self.context {
            Some(reused) => reused,
            None => self
                .context
                .insert((new_context(&self.options, &self.fuzzout)?, 0)),
        };
        let status = execute(ctx, script);
        *programs += 1;
        if *programs >= PROGRAMS_PER_CONTEXT || !v8cage_harness::oracles::still_usable(ctx) {
            self.context = None;
        }
        Ok(status)
    }
}

/// V8 flags one by one: Fuzzilli's V8 profiles pass d8's own flags and
/// flags of newer V8s too; each one this V8 or v8cage refuses is named and
/// left out instead of stopping the target.
fn set_flags(flags: &[String]) {
    for flag in flags {
        if let Err(e) = v8cage::set_flags(flag) {
            eprintln!("v8cage-reprl: ignoring {flag}: {e}");
        }
    }
}

/// Ends this process once its parent (Fuzzilli) is gone: a program in an
/// endless loop would otherwise run on as an orphan (it did, for an hour,
/// after a driver was killed). Not `PR_SET_PDEATHSIG`: that fires when the
/// parent's *thread* that spawned us ends, and Fuzzilli spawns from pooled
/// threads.
fn exit_with_parent() {
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() };
    let spawned = std::thread::Builder::new()
        .name("parent-watch".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500));
            // SAFETY: as above.
            if unsafe { libc::getppid() } != parent {
                // SAFETY: ends the process at once, as a kill would; the
                // evaluation on the main thread may hold any lock.
                unsafe { libc::_exit(0) };
            }
        });
    if spawned.is_err() {
        eprintln!("v8cage-reprl: no parent-watch thread; an orphaned target may run on");
    }
}

fn reprl(args: &Args) -> Result<(), String> {
    exit_with_parent();
    set_flags(&args.v8_flags);
    let mut channels = Channels::open()?;
    handshake(&mut channels)?;
    let mut runner = Runner::new(args, Arc::clone(&channels.data_out))?;
    loop {
        let Some(script) = next_script(&mut channels)? else {
            return Ok(()); // Fuzzilli closed the channel
        };
        let status = runner.run(&script)?;
        channels
            .control_out
            .write_all(&status.to_le_bytes())
            .map_err(|e| format!("writing the status: {e}"))?;
        // SAFETY: re-arms the coverage guards; no Rust memory is involved.
        unsafe { v8cage_cov_reset_edge_guards() };
    }
}

/// `--direct`: the files (given where V8 flags go) run `executions` times in
/// all with the same limits and context reuse, without REPRL: what the
/// protocol and Fuzzilli's process handling cost is the difference.
fn direct(args: &Args, executions: u64) -> Result<(), String> {
    let programs: Vec<String> = args
        .v8_flags
        .iter()
        .map(|f| std::fs::read(f).map(|b| String::from_utf8_lossy(&b).into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("reading a program: {e}"))?;
    if programs.is_empty() {
        return Err("--direct needs program files".into());
    }
    let sink = File::create("/dev/null").map_err(|e| e.to_string())?;
    let mut runner = Runner::new(args, Arc::new(Mutex::new(sink)))?;
    let started = std::time::Instant::now();
    for i in 0..executions {
        runner.run(&programs[i as usize % programs.len()])?;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "the same programs without REPRL: {executions} executions of {} programs in {seconds:.2} s: {:.0} exec/s",
        programs.len(),
        executions as f64 / seconds
    );
    Ok(())
}

/// `HELO` out, `HELO` back.
fn handshake(channels: &mut Channels) -> Result<(), String> {
    channels
        .control_out
        .write_all(b"HELO")
        .map_err(|e| format!("sending HELO: {e}"))?;
    let mut answer = [0u8; 4];
    channels
        .control_in
        .read_exact(&mut answer)
        .map_err(|e| format!("reading HELO: {e}"))?;
    if &answer != b"HELO" {
        return Err(format!("expected HELO, got {answer:?}"));
    }
    Ok(())
}

/// The next script, or `None` when Fuzzilli is gone.
fn next_script(channels: &mut Channels) -> Result<Option<String>, String> {
    let mut command = [0u8; 4];
    match channels.control_in.read_exact(&mut command) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(format!("reading a command: {e}")),
    }
    if &command != b"exec" {
        return Err(format!("unknown command {command:?}"));
    }
    let mut length = [0u8; 8];
    channels
        .control_in
        .read_exact(&mut length)
        .map_err(|e| format!("reading the script length: {e}"))?;
    let length = u64::from_le_bytes(length);
    if length > MAX_SCRIPT {
        return Err(format!("a {length}-byte script is beyond REPRL's maximum"));
    }
    let mut script = vec![0u8; length as usize];
    channels
        .data_in
        .read_exact(&mut script)
        .map_err(|e| format!("reading the script: {e}"))?;
    Ok(Some(String::from_utf8_lossy(&script).into_owned()))
}

fn new_context(options: &ContextOptions, fuzzout: &Arc<Mutex<File>>) -> Result<Context, String> {
    v8cage_harness::init_engine();
    let mut ctx = Context::new(options.clone()).map_err(|e| format!("creating a context: {e}"))?;
    let fuzzout = Arc::clone(fuzzout);
    ctx.expose(
        "fuzzilli",
        Arc::new(move |args: Vec<Value>| builtin(&fuzzout, &args)),
    )
    .map_err(|e| format!("defining fuzzilli(): {e}"))?;
    Ok(ctx)
}

/// d8's `fuzzilli(operation, argument)`.
fn builtin(fuzzout: &Mutex<File>, args: &[Value]) -> Result<Value, String> {
    match args {
        [Value::String(op), Value::Number(kind), ..] if op == "FUZZILLI_CRASH" => {
            // SAFETY: deliberately crashes the process (Fuzzilli's self-test);
            // for unknown kinds it returns without touching memory.
            unsafe { v8cage_fuzzilli_crash(*kind as std::os::raw::c_int) };
            Ok(Value::Undefined)
        }
        [Value::String(op), value, ..] if op == "FUZZILLI_PRINT" => {
            let text = match value {
                Value::String(s) => s.clone(),
                other => printed(other),
            };
            let mut out = fuzzout.lock().unwrap_or_else(|e| e.into_inner());
            out.write_all(text.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .and_then(|()| out.flush())
                .map_err(|e| format!("fuzzout: {e}"))?;
            Ok(Value::Undefined)
        }
        _ => Ok(Value::Undefined),
    }
}

/// A printed non-string value, as `String(value)` would read for the
/// primitives Fuzzilli prints.
fn printed(value: &Value) -> String {
    match value {
        Value::Undefined => "undefined".into(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

/// Runs one program: its REPRL status.
fn execute(ctx: &mut Context, script: &str) -> u32 {
    match ctx.eval(script) {
        Ok(_) => STATUS_OK,
        // A value that cannot be brought out is not the program's failure.
        Err(Error::Conversion(_)) => STATUS_OK,
        Err(Error::Crashed { signal, .. }) => {
            // The worker died: a crash, answered with its signal.
            signal.map_or(libc::SIGABRT as u32, |s| (s as u32) & 0xff)
        }
        // Uncaught exceptions, and limits reached (d8 ends those with a
        // non-zero exit status too; Fuzzilli counts them as failures).
        Err(_) => STATUS_EXCEPTION,
    }
}
