//! `dbaudit-normalise`: see the library for what it does.

fn main() -> std::process::ExitCode {
    dbaudit_normalise::main(std::env::args_os())
}
