use std::fs;
use std::path::{Path, PathBuf};

use crate::{ErrorKind, OptionFile};

/// A directory under the system temp dir, removed when the test ends.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new(test: &str) -> Scratch {
        Scratch(tempfile::Builder::new().prefix(&format!("dbaudit-optfile-{test}-")).tempdir().unwrap())
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, contents).unwrap();
        path
    }
}

fn parse(text: &str) -> OptionFile {
    OptionFile::parse(text, Path::new("/etc/mysql/dbaudit.cnf")).unwrap()
}

fn refusal(text: &str) -> String {
    OptionFile::parse(text, Path::new("/etc/mysql/dbaudit.cnf")).unwrap_err().to_string()
}

#[test]
fn last_occurrence_wins() {
    let file = parse("[dbaudit]\nlog = /a\n[mysqld]\nlog = /m\n[dbaudit]\nlog = /b\n");
    assert_eq!(file.get("dbaudit", "log"), Some("/b"));
    assert_eq!(file.get("mysqld", "log"), Some("/m"));
}

#[test]
fn bare_option_is_present_without_a_value() {
    let file = parse("[mysqld]\nport = 3306\nport\nskip-networking\n");
    assert!(file.has("mysqld", "skip_networking"));
    assert_eq!(file.get("mysqld", "skip_networking"), None);
    assert_eq!(file.get("mysqld", "port"), None, "a later bare option replaces the value");
    assert!(!file.has("mysqld", "absent"));
    assert!(!file.has("client", "port"));
}

#[test]
fn dash_and_underscore_are_equivalent() {
    let file = parse("[dbaudit]\nkey-file = /k\n");
    assert_eq!(file.get("dbaudit", "key_file"), Some("/k"));
    assert_eq!(file.get("dbaudit", "key-file"), Some("/k"));
}

#[test]
fn group_and_key_lookup_ignores_case() {
    let file = parse("[ DBAudit ]\nLog = /x\n");
    assert_eq!(file.get("dbaudit", "LOG"), Some("/x"));
    assert_eq!(file.get(" DBAUDIT ", "log"), Some("/x"));
}

#[test]
fn entries_come_in_file_order() {
    let file = parse("[a]\nz = 1\n[b]\nq\n[A]\ny = 2\nz = 3\n");
    let keys: Vec<_> = file.entries("a").map(|e| (e.key.as_str(), e.value.as_deref(), e.line)).collect();
    assert_eq!(keys, [("z", Some("1"), 2), ("y", Some("2"), 6), ("z", Some("3"), 7)]);
}

#[test]
fn origin_names_file_and_line_of_winning_entry() {
    let file = parse("[dbaudit]\n\nlog = /a\n# moved\nlog = /b\n");
    assert_eq!(file.origin("dbaudit", "log"), Some((Path::new("/etc/mysql/dbaudit.cnf"), 5)));
    assert_eq!(file.origin("dbaudit", "nope"), None);
}

#[test]
fn syntax_error_names_file_line_and_fix() {
    let err =
        OptionFile::parse("[dbaudit]\n# log\nlog = \"/var/log\n", Path::new("/etc/mysql/dbaudit.cnf")).unwrap_err();
    assert_eq!(err.to_string(), "/etc/mysql/dbaudit.cnf:3: unterminated quote in value of \"log\"; close the quote");
    assert_eq!((err.kind(), err.path(), err.line()), (ErrorKind::Syntax, Path::new("/etc/mysql/dbaudit.cnf"), Some(3)));
}

#[test]
fn option_outside_a_group_is_refused() {
    assert_eq!(
        refusal("# header\nlog = /x\n[dbaudit]\n"),
        "/etc/mysql/dbaudit.cnf:2: option \"log\" is outside a [group]; add a group header such as [mysqld] above it"
    );
}

#[test]
fn crlf_and_byte_order_mark_are_accepted() {
    let file = parse("\u{feff}[dbaudit]\r\nlog = /x\r\n");
    assert_eq!(file.get("dbaudit", "log"), Some("/x"));
}

#[test]
fn invalid_utf8_names_the_line() {
    let scratch = Scratch::new("utf8");
    let path = scratch.file("bad.cnf", b"[dbaudit]\nlog = /x\nkey = \xff\xfe\n");
    let err = OptionFile::read(&path).unwrap_err();
    assert_eq!((err.kind(), err.line()), (ErrorKind::Encoding, Some(3)));
    assert_eq!(err.to_string(), format!("{}:3: invalid UTF-8; save the file as UTF-8", path.display()));
}

#[test]
fn unreadable_file_names_the_path() {
    let scratch = Scratch::new("unreadable");
    let path = scratch.path().join("absent.cnf");
    let err = OptionFile::read(&path).unwrap_err();
    assert_eq!((err.kind(), err.line()), (ErrorKind::Io, None));
    assert!(err.to_string().starts_with(&format!("cannot read {}: ", path.display())), "{err}");
}

#[test]
fn include_is_resolved_relative_to_including_file() {
    let scratch = Scratch::new("relative");
    scratch.file("conf/extra/keys.cnf", "[dbaudit]\nkey-file = /k\n");
    let main = scratch.file("conf/main.cnf", "[dbaudit]\nlog = /x\n!include extra/keys.cnf\n");
    let file = OptionFile::read(&main).unwrap();
    assert_eq!(file.get("dbaudit", "key_file"), Some("/k"));
    assert_eq!(file.origin("dbaudit", "key_file"), Some((scratch.path().join("conf/extra/keys.cnf").as_path(), 2)));
}

#[test]
fn included_file_starts_outside_any_group_and_includer_keeps_its_own() {
    let scratch = Scratch::new("groups");
    scratch.file("inner.cnf", "[client]\nuser = u\n");
    let main = scratch.file("main.cnf", "[dbaudit]\n!include inner.cnf\nlog = /x\n");
    let file = OptionFile::read(&main).unwrap();
    assert_eq!(file.get("dbaudit", "log"), Some("/x"));
    assert!(!file.has("client", "log"));

    scratch.file("loose.cnf", "user = u\n");
    let main = scratch.file("main.cnf", "[dbaudit]\n!include loose.cnf\n");
    let err = OptionFile::read(&main).unwrap_err();
    assert_eq!((err.path(), err.line()), (scratch.path().join("loose.cnf").as_path(), Some(1)));
}

#[test]
fn includedir_reads_only_cnf_files_in_name_order() {
    let scratch = Scratch::new("includedir");
    scratch.file("conf.d/20-b.cnf", "[dbaudit]\nlog = /b\n");
    scratch.file("conf.d/10-a.cnf", "[dbaudit]\nlog = /a\nkey = k\n");
    scratch.file("conf.d/30-c.cnf.dpkg-old", "[dbaudit]\nlog = /old\n");
    scratch.file("conf.d/sub.cnf/inner.cnf", "[dbaudit]\nlog = /nested\n");
    let main = scratch.file("my.cnf", "!includedir conf.d\n");
    let file = OptionFile::read(&main).unwrap();
    let logs: Vec<_> = file.entries("dbaudit").filter_map(|e| e.value.as_deref()).collect();
    assert_eq!(logs, ["/a", "k", "/b"]);
}

#[test]
fn missing_include_is_an_error() {
    let scratch = Scratch::new("missing");
    let main = scratch.file("my.cnf", "[dbaudit]\n!include nope.cnf\n");
    let err = OptionFile::read(&main).unwrap_err();
    assert_eq!((err.kind(), err.path(), err.line()), (ErrorKind::Io, main.as_path(), Some(2)));
    let expected = format!("{}:2: cannot read {}: ", main.display(), scratch.path().join("nope.cnf").display());
    assert!(err.to_string().starts_with(&expected), "{err}");
}

#[test]
fn include_loop_is_refused() {
    let scratch = Scratch::new("loop");
    let main = scratch.file("a.cnf", "[dbaudit]\n!include b.cnf\n");
    scratch.file("b.cnf", "!include a.cnf\n");
    let err = OptionFile::read(&main).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IncludeDepth);
    assert!(err.to_string().ends_with("includes nest deeper than 10 files; look for a file that includes itself"));
}

#[test]
fn ten_levels_of_include_are_allowed_like_mysqld() {
    let scratch = Scratch::new("depth");
    for level in 1..=10 {
        scratch.file(&format!("{level}.cnf"), format!("[dbaudit]\nlevel = {level}\n!include {}.cnf\n", level + 1));
    }
    scratch.file("11.cnf", "[dbaudit]\nlevel = 11\n");
    let main = scratch.file("0.cnf", "!include 1.cnf\n");
    assert_eq!(OptionFile::read(&main).unwrap_err().kind(), ErrorKind::IncludeDepth);
    let main = scratch.file("0.cnf", "!include 2.cnf\n");
    assert_eq!(OptionFile::read(&main).unwrap().get("dbaudit", "level"), Some("11"));
}

/// A deterministic xorshift stream, so a failure reproduces without a seed file.
fn noise(mut state: u64) -> impl FnMut(usize) -> usize {
    move |bound| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "[",
    "]",
    "=",
    "#",
    ";",
    "'",
    "\"",
    "\\",
    "!",
    "!include ",
    "!includedir ",
    " ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "\0",
    "key",
    "-",
    "_",
    "mysqld",
    "é",
    "\u{feff}",
    "💥",
    "\\s",
    "\\\"",
    "\nkey = ",
    "\n[g]\n",
];

#[test]
fn garbage_text_never_panics() {
    let scratch = Scratch::new("garbage-text");
    // A directory that does not exist, so includes in the garbage fail instead of reading the disk.
    let origin = scratch.path().join("absent/dbaudit.cnf");
    let mut next = noise(0x9e37_79b9_7f4a_7c15);
    for _ in 0..500 {
        // Starting inside a group lets most garbage reach the option parser.
        let text: String = (0..next(60)).fold("[g]\nkey = ".to_string(), |text, _| text + PIECES[next(PIECES.len())]);
        if let Err(err) = OptionFile::parse(&text, &origin) {
            assert!(!err.to_string().contains('\n'), "multi-line error for {text:?}: {err}");
        }
    }
}

#[test]
fn garbage_bytes_never_panic() {
    let origin = Path::new("/nonexistent/dbaudit-optfile/dbaudit.cnf");
    let mut next = noise(0x2545_f491_4f6c_dd1d);
    for _ in 0..500 {
        let bytes: Vec<u8> = (0..next(80))
            .flat_map(|_| match next(3) {
                0 => vec![next(256) as u8],
                _ => PIECES[next(PIECES.len())].as_bytes().to_vec(),
            })
            .collect();
        let _ = OptionFile::default().add(&bytes, origin, 0);
    }
}
