//! What every tool shares at its edges: exit statuses that say what happened, and
//! standard output that a closed pipe (`tool | head`) ends quietly.
//!
//! `println!` panics when standard output is a pipe whose reader has gone (exit 101,
//! with a panic message). The tools print through [`outln!`] instead, which returns the
//! error; [`finish`] then sees that standard output was closed and ends with status 0
//! without a message: whatever the tool wanted to say was no longer wanted, and every
//! write it made to a store before is as durable as on any other exit.

use std::error::Error;
use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit status: the tool failed; unless its message says otherwise, nothing was changed.
pub const FAILED: u8 = 1;
/// Exit status: bad usage or bad input (an unknown meter, a refused directory, bad lines
/// in a file); nothing was changed. Also clap's status for bad arguments.
pub const BAD_INPUT: u8 = 2;
/// Exit status of a tool that writes a store: its data was committed (durable in the
/// store), and a step after it (flush, compaction, close) failed.
pub const COMMITTED_THEN_FAILED: u8 = 3;

/// The exit statuses of a tool that only reads, for its `--help`.
pub const READ_EXIT_HELP: &str = "Exit status: 0 done (also when standard output is closed \
    early, as by `| head`); 1 failed (the message says why); 2 bad usage or bad input.";

/// The exit statuses of a tool that writes a store, for its `--help`.
pub const WRITE_EXIT_HELP: &str = "Exit status: 0 done (also when standard output is closed \
    early, as by `| head`: the tool stops there, and what it stored before stays stored); \
    1 failed (the message says why); 2 bad usage or bad input, nothing changed.";

/// The exit statuses of `import_csv`, for its `--help`.
pub const IMPORT_EXIT_HELP: &str = "Exit status: 0 done (also when standard output is closed \
    early, as by `| head`); 1 failed (a failure while appending says how many readings were \
    committed before it); 2 bad usage or bad input (bad lines, a refused directory): nothing \
    imported; 3 every reading was committed to the store and closing it (flush or compaction) \
    failed: the message names the failure, and the readings stay stored.";

/// An error that ends a tool with a chosen exit status.
#[derive(Debug)]
pub struct Failure {
    /// The exit status: [`FAILED`], [`BAD_INPUT`] or [`COMMITTED_THEN_FAILED`].
    pub code: u8,
    /// What happened.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for Failure {}

/// An error that ends the tool with exit status `code`.
pub fn fail(code: u8, message: impl Into<String>) -> Box<dyn Error> {
    Box::new(Failure {
        code,
        message: message.into(),
    })
}

/// A finite number above zero, for a clap `value_parser`.
pub fn positive(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("{s:?} is not a number above zero")),
    }
}

/// A finite number zero or above, for a clap `value_parser`.
pub fn non_negative(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("{s:?} is not a number of zero or more")),
    }
}

/// Set once a write to standard output meets a closed pipe.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether standard output has been found closed (its reader gone).
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Standard output, locked, that records a closed pipe for [`finish`]. Buffer it (with
/// `BufWriter`) for long output.
pub struct Stdout(io::StdoutLock<'static>);

/// Locks standard output for [`Stdout`]'s writes.
pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

fn note<T>(r: io::Result<T>) -> io::Result<T> {
    if let Err(e) = &r {
        if e.kind() == io::ErrorKind::BrokenPipe {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
        }
    }
    r
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        note(self.0.write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        note(self.0.write_all(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        note(self.0.flush())
    }
}

/// `println!` that returns an `io::Result` instead of panicking when standard output
/// is closed: `outln!("{x} rows")?;`.
#[allow(unused_macros, reason = "each includer uses it or not")]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!($crate::common::cli::stdout(), $($arg)*)
    }};
}
#[allow(unused_imports, reason = "each includer uses it or not")]
pub(crate) use outln;

/// The exit status of a tool's run: 0 on success or once standard output was closed
/// (quietly); otherwise the error on standard error and its [`Failure`] status, or
/// [`FAILED`] for any other error.
pub fn finish(r: Result<(), Box<dyn Error>>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) if stdout_closed() => ExitCode::SUCCESS,
        Err(e) => {
            let code = e.downcast_ref::<Failure>().map_or(FAILED, |f| f.code);
            eprintln!("error: {}", e.to_string().trim_end());
            ExitCode::from(code)
        }
    }
}
