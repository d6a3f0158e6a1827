//! The server may print.

pub struct Server;

pub fn log() {
    eprintln!("serving");
    let _ = std::io::IsTerminal::is_terminal(&std::io::stderr());
}
