//! `dbaudit-respond`: see the library's documentation and `--help`.

fn main() {
    let mut args = std::env::args_os();
    let program = args.next().map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|| "dbaudit-respond".into());
    std::process::exit(dbaudit_respond::run(&program, args.collect()));
}
