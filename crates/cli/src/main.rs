fn main() {
    std::process::exit(dbaudit_cli::run(std::env::args_os()));
}
