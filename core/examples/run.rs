//! Evaluates a JavaScript file (or stdin) under limits and prints the result
//! as JSON, or the typed error. `cargo xtask run` wraps it; it is also the
//! triage tool for fuzz findings.

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use v8cage::{Context, ContextOptions, Isolation};

#[derive(Parser)]
#[command(about = "Evaluate JavaScript with v8cage and print the result as JSON")]
struct Args {
    /// A .js file, or `-` for standard input.
    #[arg(required_unless_present = "v8_version")]
    file: Option<String>,
    /// Print which V8 this program links (version, whether V8's sandbox is
    /// on) and exit.
    #[arg(long)]
    v8_version: bool,
    /// Per-evaluation timeout, e.g. `100ms`, `2s` (default: none).
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// Heap limit, e.g. `64M`, `1G`, or bytes (default: V8's).
    #[arg(long, value_parser = parse_size)]
    heap_limit: Option<usize>,
    /// Print the Rust `Value` (keeps undefined, BigInt, Date... distinct).
    #[arg(long)]
    debug: bool,
    /// Where V8 runs: in this process, or in a sandboxed worker process
    /// (whose sandbox layers are printed to stderr).
    #[arg(long, value_enum, default_value_t = IsolationArg::InProcess)]
    isolation: IsolationArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum IsolationArg {
    InProcess,
    Process,
}

fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (digits, scale) = match text.char_indices().last() {
        Some((i, 'k' | 'K')) => (&text[..i], 1 << 10),
        Some((i, 'm' | 'M')) => (&text[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&text[..i], 1 << 30),
        _ => (text, 1),
    };
    let n: usize = digits
        .parse()
        .map_err(|_| format!("not a size: {text:?} (use e.g. 64M)"))?;
    n.checked_mul(scale)
        .ok_or_else(|| format!("size too large: {text}"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.v8_version {
        return match v8cage::v8_sandboxed() {
            Ok(sandboxed) => {
                let sandbox = if sandboxed { "on" } else { "off" };
                println!("V8 {} (V8 sandbox {sandbox})", v8cage::v8_version());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("V8 {} did not start: {e}", v8cage::v8_version());
                ExitCode::FAILURE
            }
        };
    }
    let file = args.file.unwrap_or_default();
    let source = if file == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).map(|_| buf)
    } else {
        std::fs::read(&file)
    };
    let source = match source {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            eprintln!("cannot read {file}: {e}");
            return ExitCode::from(2);
        }
    };
    let options = ContextOptions {
        timeout: args.timeout,
        heap_limit: args.heap_limit,
        isolation: match args.isolation {
            IsolationArg::InProcess => Isolation::InProcess,
            IsolationArg::Process => Isolation::Process,
        },
        ..Default::default()
    };
    let result = Context::new(options).and_then(|mut ctx| {
        if let Some(report) = ctx.isolation_report() {
            eprintln!("{report}");
        }
        ctx.eval(&source)
    });
    match result {
        Ok(value) if args.debug => println!("{value:?}"),
        Ok(value) => println!(
            "{}",
            serde_json::to_string_pretty(&value).expect("a Value always serializes")
        ),
        Err(error) => {
            eprintln!("error: {error:?}\n{error}");
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}
