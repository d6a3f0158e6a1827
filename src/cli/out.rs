//! A command's output: stdout that ends quietly when its reader goes away, and stderr
//! that never panics.
//!
//! SIGPIPE stays ignored (Rust's default) in every command: restoring its default
//! disposition would make any write to a closed socket kill the process, and `cmap
//! serve` and `cmap run` write to sockets whose peers hang up. A write to a closed pipe
//! then fails with `BrokenPipe`, and `println!` would turn that into a panic; so
//! commands write through [`Out`] (`outln!`) and [`errln!`](crate::cli) instead. A closed
//! stdout (`cmap shards | head -1`) is not an error: the command stops writing, says
//! nothing, and exits with the code of the work it did (ripgrep does the same,
//! `crates/core/main.rs`). Any other write error (a full disk under `> file`) is
//! reported, exit code 2.

use std::fmt;
use std::io::{self, BufWriter, StdoutLock, Write};

use super::{print_error, EXIT_USAGE};

/// The state of the output: open, closed by its reader, or failed.
enum State {
    Open,
    Closed,
    Failed(io::Error),
}

/// Stdout for one command. Writes after it closed or failed are dropped, so a command
/// can finish its work (and its exit code) without checking every line; streaming
/// commands check the `bool` each write returns and stop early.
pub struct Out {
    writer: Writer,
    state: State,
}

enum Writer {
    /// Line-buffered (std's stdout): each line reaches the reader at once.
    Lines(StdoutLock<'static>),
    /// Block-buffered, for bulk output (`shards`).
    Buffered(BufWriter<StdoutLock<'static>>),
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Writer::Lines(w) => w.write(buf),
            Writer::Buffered(w) => w.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Writer::Lines(w) => w.write_all(buf),
            Writer::Buffered(w) => w.write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Writer::Lines(w) => w.flush(),
            Writer::Buffered(w) => w.flush(),
        }
    }
}

impl Out {
    /// Line-buffered stdout.
    pub fn stdout() -> Out {
        Out {
            writer: Writer::Lines(io::stdout().lock()),
            state: State::Open,
        }
    }

    /// Block-buffered stdout (64 KiB), for many lines.
    pub fn buffered() -> Out {
        Out {
            writer: Writer::Buffered(BufWriter::with_capacity(1 << 16, io::stdout().lock())),
            state: State::Open,
        }
    }

    /// Whether writes still reach the reader.
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open)
    }

    /// Writes `args` and a newline; false once the output is closed or failed.
    pub fn line(&mut self, args: fmt::Arguments<'_>) -> bool {
        self.run(|w| {
            w.write_fmt(args)?;
            w.write_all(b"\n")
        })
    }

    /// Writes `text` as it is (no newline added).
    pub fn text(&mut self, text: &str) -> bool {
        self.run(|w| w.write_all(text.as_bytes()))
    }

    /// Writes `value` as one line of JSON.
    pub fn json_line<T: serde::Serialize>(&mut self, value: &T) -> bool {
        self.run(|w| {
            serde_json::to_writer(&mut *w, value).map_err(io::Error::from)?;
            w.write_all(b"\n")
        })
    }

    /// Runs one write unless the output is already closed or failed; records how it went.
    fn run(&mut self, write: impl FnOnce(&mut Writer) -> io::Result<()>) -> bool {
        if !self.is_open() {
            return false;
        }
        if let Err(e) = write(&mut self.writer) {
            self.fail(e);
        }
        self.is_open()
    }

    fn fail(&mut self, e: io::Error) {
        self.state = if e.kind() == io::ErrorKind::BrokenPipe {
            State::Closed
        } else {
            State::Failed(e)
        };
    }

    /// Flushes and gives the command's exit code: `code` (the code of its work) when
    /// everything was written or the reader went away, else reports the write error and
    /// gives 2.
    pub fn finish(mut self, code: u8) -> u8 {
        if self.is_open() {
            if let Err(e) = self.writer.flush() {
                self.fail(e);
            }
        }
        match self.state {
            State::Open | State::Closed => code,
            State::Failed(e) => {
                print_error(&format!("cannot write the output: {e}"), None);
                EXIT_USAGE
            }
        }
    }
}

/// A write error on stdout outside an [`Out`] (a writer handed to a library): `None` when
/// the reader went away (stop quietly), else the error is reported and the code is 2.
pub fn write_failed(e: &io::Error) -> Option<u8> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        None
    } else {
        print_error(&format!("cannot write the output: {e}"), None);
        Some(EXIT_USAGE)
    }
}

/// Writes to stderr, ignoring failure: a closed stderr (`cmap run 2>&1 | head`) must
/// neither panic nor stop the work. Used through `errln!` / `errprint!`.
pub fn stderr(args: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

#[cfg(test)]
mod tests {
    use super::{Out, State, Writer};
    use std::io;

    #[test]
    fn a_closed_pipe_keeps_the_code_and_a_real_error_is_two() {
        let closed = |kind: io::ErrorKind| {
            let mut out = Out {
                writer: Writer::Lines(io::stdout().lock()),
                state: State::Open,
            };
            out.fail(io::Error::from(kind));
            assert!(!out.is_open());
            assert!(!out.line(format_args!("dropped")));
            out.finish(3)
        };
        assert_eq!(closed(io::ErrorKind::BrokenPipe), 3);
        assert_eq!(closed(io::ErrorKind::StorageFull), 2);
    }
}
