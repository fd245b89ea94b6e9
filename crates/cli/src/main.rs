//! `dbaudit`, the administrator's command; [`dbaudit_cli::run`] does the work.

fn main() {
    std::process::exit(dbaudit_cli::run(std::env::args_os()));
}
