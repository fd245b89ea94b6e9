//! `dbaudit history`, the real binary, on logs a real, private MariaDB wrote: a row's story
//! from two accounts in text, JSON and HTML (rendered by a real headless Chromium), a
//! tampered copy, a gzip-rotated set, odd names, and the errors a user can meet.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{sql, Dbaudit, Run};
use dbaudit_tests::MariaDb;
use mysql::prelude::Queryable;
use serde_json::Value as Json;

/// Watches acme.users (password secret), then alice and bob change rows 7 and 8:
/// insert 7 and 8 (alice), update 7's name and password (bob), 7's email (alice), 8's name
/// (bob), delete 7 (bob). Returns the two accounts.
fn users_story(server: &MariaDb) -> (String, String) {
    server.fresh_database("acme");
    sql(
        server,
        &["CREATE TABLE acme.users (id INT PRIMARY KEY, name VARCHAR(40), email VARCHAR(80), password VARCHAR(80))"],
    );
    Dbaudit::new(server).args(&["watch", "acme.users", "--secret", "password"]).expect(0);
    let grants = ["SELECT, INSERT, UPDATE, DELETE ON acme.*"];
    let alice = server.create_user("alice", "a-pw", &grants);
    let bob = server.create_user("bob", "b-pw", &grants);
    let as_user = |user: &str, password: &str, statements: &[&str]| {
        let mut conn = server.connect_as(user, password).unwrap();
        for statement in statements {
            conn.query_drop(statement).unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
    };
    as_user(
        "alice",
        "a-pw",
        &[
            "INSERT INTO acme.users VALUES (7, 'alice', 'alice@example.com', 'hunter2')",
            "INSERT INTO acme.users VALUES (8, 'eve', 'eve@example.com', 'letmein')",
        ],
    );
    as_user("bob", "b-pw", &["UPDATE acme.users SET name = 'alicia', password = 'hunter3' WHERE id = 7"]);
    as_user("alice", "a-pw", &["UPDATE acme.users SET email = 'alicia@example.com' WHERE id = 7"]);
    as_user("bob", "b-pw", &["UPDATE acme.users SET name = 'eva' WHERE id = 8", "DELETE FROM acme.users WHERE id = 7"]);
    (alice, bob)
}

fn history(server: &MariaDb, args: &[&str], code: i32) -> Run {
    Dbaudit::offline(server).args(&["history"]).args(args).expect(code)
}

/// The JSON lines of a run.
fn events(run: &Run) -> Vec<Json> {
    run.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// An event's changes as `column: old → new` ("-" for a side that does not exist).
fn changes(event: &Json) -> Vec<String> {
    let side = |v: &Json| match v {
        Json::Null => "-".to_owned(),
        v => v.to_string(),
    };
    event["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{}: {} → {}", c["column"].as_str().unwrap(), side(&c["old"]), side(&c["new"])))
        .collect()
}

/// The story without where each event is (file, line): what two reads must agree on.
fn placeless(events: &[Json]) -> Vec<Json> {
    events
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e.as_object_mut().unwrap().retain(|k, _| k != "file" && k != "line");
            e
        })
        .collect()
}

#[test]
fn a_rows_story_is_told_oldest_first_in_text_json_and_html() {
    let server = MariaDb::start();
    let (alice, bob) = users_story(&server);

    let run = history(&server, &["acme.users", "--pk", "id=7", "--json"], 0);
    let got = events(&run);
    let said: Vec<(String, String, bool)> = got
        .iter()
        .map(|e| (e["op"].as_str().unwrap().to_owned(), e["user"].as_str().unwrap().to_owned(), e["verified"] == true))
        .collect();
    assert_eq!(
        said,
        [
            ("insert".to_owned(), alice.clone(), true),
            ("update".to_owned(), bob.clone(), true),
            ("update".to_owned(), alice.clone(), true),
            ("delete".to_owned(), bob.clone(), true),
        ]
    );
    assert_eq!(changes(&got[2]), [r#"email: "alice@example.com" → "alicia@example.com""#]);
    let update = changes(&got[1]);
    assert_eq!(update[0], r#"name: "alice" → "alicia""#);
    assert!(update[1].starts_with(r#"password: "secret:"#) && update[1].contains(r#" → "secret:"#), "{update:?}");
    assert_eq!(changes(&got[0]).len(), 4, "an insert shows every column");
    assert!(changes(&got[0])[0].starts_with("id: - → \"7\""), "{:?}", changes(&got[0]));
    assert_eq!(got[3]["pk"], serde_json::json!({"id": "7"}));
    assert!(got.iter().all(|e| e["table"] == "users" && e["db"] == "acme" && e["conn"].is_u64()));
    let times: Vec<&str> = got.iter().map(|e| e["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first: {times:?}");
    assert!(!run.stdout.contains("hunter") && !run.stdout.contains("letmein"), "a secret in clear: {}", run.stdout);

    // Filters: account, op, time window.
    let by_bob = events(&history(&server, &["acme.users", "--pk", "id=7", "--json", "--account", "bob"], 0));
    assert_eq!(by_bob.iter().map(|e| e["op"].as_str().unwrap()).collect::<Vec<_>>(), ["update", "delete"]);
    let full = events(&history(&server, &["acme.users", "--pk", "id=7", "--json", "--account", &alice], 0));
    assert_eq!(full.len(), 2);
    let by_user = events(&history(&server, &["acme.users", "--pk", "id=7", "--json", "--user", "bob"], 0));
    assert_eq!(by_user, by_bob, "--user names the account as --account does");
    let both = history(&server, &["acme.users", "--pk", "id=7", "--user", "bob", "--account", "alice"], 2);
    assert!(both.stderr.contains("name different accounts"), "{}", both.stderr);
    let ops = events(&history(&server, &["acme.users", "--pk", "id=7", "--json", "--op", "insert,delete"], 0));
    assert_eq!(ops.iter().map(|e| e["op"].as_str().unwrap()).collect::<Vec<_>>(), ["insert", "delete"]);
    let window = ["--since", times[1], "--until", times[3]];
    let within = events(&history(&server, &[&["acme.users", "--pk", "id=7", "--json"][..], &window].concat(), 0));
    assert_eq!(within.iter().map(|e| e["time"].as_str().unwrap()).collect::<Vec<_>>(), times[1..3]);
    let later = events(&history(&server, &["acme.users", "--pk", "id=7", "--json", "--since", "2999-01-01"], 0));
    assert!(later.is_empty());

    // The text table.
    let text = history(&server, &["acme.users", "--pk", "id=7"], 0).stdout;
    println!("{text}");
    assert!(text.starts_with("acme.users id=7: 4 verified events, 0 unverified ("), "{text}");
    assert!(text.contains("TIME (UTC)") && text.contains("ACCOUNT") && text.contains("CHANGE"), "{text}");
    assert!(text.contains(r#"name: "alice" → "alicia""#), "{text}");
    assert!(text.contains(&format!("  {bob}  ")) && text.contains("  delete  "), "{text}");
    assert!(!text.contains("UNVERIFIED") && !text.contains("hunter"), "{text}");

    // The page, rendered by a real browser.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("history-html");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("acme-users-7.html");
    let run = history(&server, &["acme.users", "--pk", "id=7", "--html", page.to_str().unwrap()], 0);
    assert!(run.stdout.contains("4 events (4 verified, 0 unverified)"), "{}", run.stdout);
    let html = std::fs::read_to_string(&page).unwrap();
    for outside in ["<script", "<link", "http://", "https://", "@import", "url(", "<img"] {
        assert!(!html.contains(outside), "the page must need nothing from outside: {outside}");
    }
    assert!(!html.contains("hunter"));
    let dom = chromium(&dir, &["--dump-dom".into(), file_url(&page)]);
    assert_eq!(dom.matches("<tr class=\"event\">").count(), 4, "{dom}");
    assert!(dom.contains("<td class=\"old\">\"alice\"</td><td class=\"new\">\"alicia\"</td>"), "{dom}");
    assert!(dom.contains("id=\"columns\"") && dom.contains(&bob), "{dom}");
    let shot = dir.join("acme-users-7.png");
    chromium(&dir, &[format!("--screenshot={}", shot.display()), "--window-size=1200,1600".into(), file_url(&page)]);
    println!("screenshot: {}", shot.display());
    let image = Png::read(&shot);
    assert_eq!((image.width, image.height), (1200, 1600), "the size asked for");
    // A blank page is one colour; the diff's cells are the only light green and light red.
    assert!(image.colours() > 16, "{} colours: a blank page?", image.colours());
    assert!(image.pixels_near([0xda, 0xfb, 0xe1]) > 500, "no new-value (green) cell drawn");
    assert!(image.pixels_near([0xff, 0xeb, 0xe9]) > 500, "no old-value (red) cell drawn");

    // Errors: one line, exit 2.
    let key_file = server.dir().join("other.key");
    std::fs::write(&key_file, format!("{}\n", "ab".repeat(32))).unwrap();
    let key_flag = key_file.to_str().unwrap();
    for (args, says) in [
        (vec!["acme.users", "--pk", "id"], "--pk \"id\": a pair has no ="),
        (vec!["acme.users", "--pk", "=7"], "no column name"),
        (
            vec!["acme.nope", "--pk", "id=7"],
            "names table acme.nope: not watched, or no change recorded; tables it names: acme.users",
        ),
        (vec!["acme.users", "--pk", "name=alice"], "the records of acme.users are keyed by (id); name those columns"),
        (vec!["acme.users", "--pk", "id=7", "--key-file", key_flag], "the key does not match this log"),
        (vec!["acme.users", "--pk", "id=7", "--since", "last tuesday"], "--since \"last tuesday\": not a time"),
        (vec!["acme users", "--pk", "id=7"], "is not DB.TABLE"),
        (vec!["acme.users", "--pk", "id=7", "/nonexistent/dbaudit.log"], "cannot read log /nonexistent/dbaudit.log"),
    ] {
        let run = history(&server, &args, 2);
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: one line: {}", run.stderr);
        assert!(run.stderr.starts_with("dbaudit: ") && run.stderr.contains(says), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
    }
    let none = history(&server, &["acme.users", "--pk", "id=9"], 0);
    assert!(none.stdout.contains("0 verified events") && none.stdout.contains("no verified event"), "{}", none.stdout);
}

#[test]
fn after_a_finding_events_are_unverified_until_a_new_epoch_anchors_the_chain_and_rotation_changes_nothing() {
    let mut server = MariaDb::start();
    let (_, bob) = users_story(&server);
    // A new mysqld, a new epoch, whose start record names the last record before it.
    server.restart();
    let mut conn = server.connect_as("bob", "b-pw").unwrap();
    conn.query_drop("INSERT INTO acme.users VALUES (7, 'again', 'again@example.com', 'pw2')").unwrap();
    drop(conn);
    let log = std::fs::read_to_string(server.log_path()).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 9, "start, 6 changes, start, insert:\n{log}");

    // Edit alice's email change (bad mac there) and delete bob's update of row 8 (a gap
    // before the delete): from the edit on, row 7's events are unverified, until the new
    // epoch's start record, sealed and naming the last record, anchors the chain again.
    let edited = lines[4].replace("alicia@example.com", "mallory@example.com");
    assert_ne!(edited, lines[4]);
    let tampered: Vec<&str> = [&lines[..4], &[edited.as_str()], &lines[6..]].concat();
    let copy = server.dir().join("tampered.log");
    std::fs::write(&copy, tampered.join("\n") + "\n").unwrap();
    let run = history(&server, &["acme.users", "--pk", "id=7", "--json", copy.to_str().unwrap()], 1);
    let got = events(&run);
    let said: Vec<(&str, bool)> =
        got.iter().map(|e| (e["op"].as_str().unwrap(), e["verified"].as_bool().unwrap())).collect();
    // Verified events first (the story), then the unverified ones apart.
    assert_eq!(said, [("insert", true), ("update", true), ("insert", true), ("update", false), ("delete", false)]);
    assert_eq!(changes(&got[2])[1], r#"name: - → "again""#);
    assert_eq!(got[2]["user"], bob.as_str());
    assert!(got[3]["unverified_because"].as_str().unwrap().contains("tampered.log:5: mac:"), "{}", got[3]);
    assert!(got[4]["unverified_because"].as_str().unwrap().contains("tampered.log:6: gap:"), "{}", got[4]);
    assert!(run.stderr.contains("TAMPERED: 2 findings"), "{}", run.stderr);
    let text = history(&server, &["acme.users", "--pk", "id=7", copy.to_str().unwrap()], 1).stdout;
    println!("{text}");
    let (story, apart) = text.split_once("UNVERIFIED").expect("an unverified section");
    assert!(story.contains("again") && !story.contains("mallory"), "{text}");
    assert!(apart.contains("mallory") && apart.contains("^ unverified: ") && apart.contains("TAMPERED"), "{text}");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("history-html-tampered");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("tampered.html");
    history(&server, &["acme.users", "--pk", "id=7", "--html", page.to_str().unwrap(), copy.to_str().unwrap()], 1);
    let html = std::fs::read_to_string(&page).unwrap();
    let (story, apart) = html.split_once("<section class=\"unverified\"").expect("an unverified section");
    assert!(!story.contains("mallory") && apart.contains("mallory"));
    let shot = dir.join("tampered.png");
    chromium(&dir, &[format!("--screenshot={}", shot.display()), "--window-size=1200,1600".into(), file_url(&page)]);
    println!("screenshot: {}", shot.display());
    // The unverified section is drawn apart: framed in red (#cf222e), which nothing else uses.
    assert!(Png::read(&shot).pixels_near([0xcf, 0x22, 0x2e]) > 2000, "no red frame around the unverified events");

    // The same log rotated by logrotate, compressed but for .1 and the live file: the same
    // story, whether the directory or the files in any order are given.
    let whole = events(&history(&server, &["acme.users", "--pk", "id=7", "--json"], 0));
    assert_eq!(whole.len(), 5);
    let rotated = server.dir().join("rotated");
    std::fs::create_dir(&rotated).unwrap();
    let parts =
        [("dbaudit.log.3.gz", 0..2), ("dbaudit.log.2.gz", 2..4), ("dbaudit.log.1", 4..7), ("dbaudit.log", 7..9)];
    for (name, range) in parts.clone() {
        let text = lines[range].join("\n") + "\n";
        let bytes = if name.ends_with(".gz") { gzip(text.as_bytes()) } else { text.into_bytes() };
        std::fs::write(rotated.join(name), bytes).unwrap();
    }
    std::fs::write(rotated.join("error.log"), "not ours\n").unwrap();
    let from_dir = events(&history(&server, &["acme.users", "--pk", "id=7", "--json", rotated.to_str().unwrap()], 0));
    assert_eq!(placeless(&from_dir), placeless(&whole));
    assert!(from_dir[0]["file"].as_str().unwrap().ends_with("dbaudit.log.3.gz"), "{}", from_dir[0]);
    let shuffled: Vec<String> = [1, 3, 0, 2].iter().map(|&i| rotated.join(parts[i].0).display().to_string()).collect();
    let mut args = vec!["acme.users", "--pk", "id=7", "--json"];
    args.extend(shuffled.iter().map(String::as_str));
    assert_eq!(placeless(&events(&history(&server, &args, 0))), placeless(&whole));

    // dbaudit.log.1 alone begins mid-epoch: its first record (the email change) cannot be
    // checked; the delete after it can.
    let first = rotated.join("dbaudit.log.1");
    let alone = events(&history(&server, &["acme.users", "--pk", "id=7", "--json", first.to_str().unwrap()], 0));
    let said: Vec<(&str, bool)> =
        alone.iter().map(|e| (e["op"].as_str().unwrap(), e["verified"].as_bool().unwrap())).collect();
    assert_eq!(said, [("delete", true), ("update", false)]);
    assert!(alone[1]["unverified_because"].as_str().unwrap().contains("cannot be checked"), "{}", alone[1]);
}

#[test]
fn odd_names_and_a_key_value_with_a_comma_work() {
    let server = MariaDb::start();
    server.fresh_database("shop db");
    sql(&server, &["CREATE TABLE `shop db`.`we``ird tåble` (code VARCHAR(20), region INT, note TEXT, PRIMARY KEY (code, region))"]);
    Dbaudit::new(&server).args(&["watch", "`shop db`.`we``ird tåble`"]).expect(0);
    sql(
        &server,
        &[
            "INSERT INTO `shop db`.`we``ird tåble` VALUES ('a,b=c', 1, 'first'), ('a', 1, 'other')",
            "UPDATE `shop db`.`we``ird tåble` SET note = 'zweite \"Fassung\"' WHERE code = 'a,b=c'",
        ],
    );
    let run = history(&server, &["`shop db`.`we``ird tåble`", "--pk", r"code=a\,b=c,region=1", "--json"], 0);
    let got = events(&run);
    assert_eq!(got.len(), 2, "{}", run.stdout);
    assert_eq!(got[0]["pk"], serde_json::json!({"code": "a,b=c", "region": "1"}));
    assert_eq!(got[0]["table"], "we`ird tåble");
    assert_eq!(changes(&got[1]), [r#"note: "first" → "zweite \"Fassung\"""#]);
    let text = history(&server, &["`shop db`.`we``ird tåble`", "--pk", r"region=1,code=a\,b=c"], 0).stdout;
    assert!(text.starts_with(r"`shop db`.`we``ird tåble` region=1,code=a\,b=c: 2 verified events"), "{text}");
    // The other row's key is a prefix of this one's: it is not this row.
    let other = events(&history(&server, &["`shop db`.`we``ird tåble`", "--pk", "code=a,region=1", "--json"], 0));
    assert_eq!(other.len(), 1);

    // A new key: the update that gives it is the row's, and so is what follows under it.
    sql(
        &server,
        &[
            "UPDATE `shop db`.`we``ird tåble` SET code = 'z' WHERE code = 'a,b=c'",
            "UPDATE `shop db`.`we``ird tåble` SET note = 'third' WHERE code = 'z'",
        ],
    );
    let moved = events(&history(&server, &["`shop db`.`we``ird tåble`", "--pk", r"code=a\,b=c,region=1", "--json"], 0));
    let said: Vec<Vec<String>> = moved.iter().map(changes).collect();
    assert_eq!(said.len(), 4, "{said:?}");
    assert_eq!(said[2], [r#"code: "a,b=c" → "z""#]);
    assert_eq!(said[3], [r#"note: "zweite \"Fassung\"" → "third""#]);
    assert_eq!(moved[3]["pk"], serde_json::json!({"code": "z", "region": "1"}));

    // A change made while the trigger no longer matches the table names no row: it is shown
    // for every row of the table, as what it is.
    sql(
        &server,
        &[
            "ALTER TABLE `shop db`.`we``ird tåble` DROP COLUMN note",
            "UPDATE `shop db`.`we``ird tåble` SET region = 2 WHERE code = 'a'",
        ],
    );
    let drifted = events(&history(&server, &["`shop db`.`we``ird tåble`", "--pk", "code=z,region=1", "--json"], 0));
    let last = drifted.last().unwrap();
    assert_eq!((last["op"].as_str(), last["verified"].as_bool()), (Some("drift:update"), Some(true)), "{last}");
    assert!(last["note"].as_str().unwrap().contains("note"), "{last}");

    // A forged call claiming the table names no row either: it is listed apart, as a claim.
    let mut root = server.root();
    let forged: Option<Option<i64>> = root
        .query_first("SELECT dbaudit_log('x', 'shop db', 'we`ird tåble', 'delete', 'mallory@evil', 9, 'code', '')")
        .unwrap();
    assert_eq!(forged, Some(None));
    let run = history(&server, &["`shop db`.`we``ird tåble`", "--pk", "code=z,region=1", "--json"], 1);
    let claim = events(&run).pop().unwrap();
    assert_eq!((claim["op"].as_str(), claim["verified"].as_bool()), (Some("forged"), Some(false)), "{claim}");
    assert_eq!((claim["user"].as_str(), claim["conn"].as_u64()), (Some("mallory@evil"), Some(9)), "{claim}");
    assert!(claim["unverified_because"].as_str().unwrap().contains("wrong token"), "{claim}");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// Debian's Chromium, headless, in a fresh profile, offline; its stdout. Fails with the
/// package to install when it is missing.
fn chromium(dir: &Path, args: &[String]) -> String {
    const CHROMIUM: &str = "/usr/bin/chromium";
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium; .ci/run does)"
    );
    let profile = tempfile::Builder::new().prefix("chromium-profile").tempdir_in(dir).unwrap();
    let mut child = Command::new(CHROMIUM)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run chromium");
    let deadline = Instant::now() + Duration::from_secs(180);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium {args:?} did not finish within 3 minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "chromium {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A PNG decoded to RGB pixels: 8-bit RGB or RGBA, not interlaced (what Chromium writes).
struct Png {
    width: u32,
    height: u32,
    rgb: Vec<[u8; 3]>,
}

impl Png {
    fn read(path: &PathBuf) -> Png {
        use std::io::Read;
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", path.display());
        let (mut at, mut header, mut data) = (8, None, Vec::new());
        while at + 8 <= bytes.len() {
            let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            let (kind, body) = (&bytes[at + 4..at + 8], &bytes[at + 8..at + 8 + len]);
            match kind {
                b"IHDR" => header = Some(body.to_vec()),
                b"IDAT" => data.extend_from_slice(body),
                _ => {}
            }
            at += 12 + len;
        }
        let header = header.expect("no IHDR");
        let width = u32::from_be_bytes(header[0..4].try_into().unwrap());
        let height = u32::from_be_bytes(header[4..8].try_into().unwrap());
        let (depth, colour, interlace) = (header[8], header[9], header[12]);
        assert!(depth == 8 && (colour == 2 || colour == 6) && interlace == 0, "unexpected PNG kind {header:?}");
        let channels = if colour == 6 { 4 } else { 3 };
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(&data[..]).read_to_end(&mut raw).unwrap();
        let stride = width as usize * channels;
        assert_eq!(raw.len(), (stride + 1) * height as usize, "image data of the wrong size");
        let mut pixels = vec![0u8; stride * height as usize];
        for y in 0..height as usize {
            let filter = raw[y * (stride + 1)];
            let line = &raw[y * (stride + 1) + 1..(y + 1) * (stride + 1)];
            for x in 0..stride {
                let a = if x >= channels { pixels[y * stride + x - channels] } else { 0 };
                let b = if y > 0 { pixels[(y - 1) * stride + x] } else { 0 };
                let c = if x >= channels && y > 0 { pixels[(y - 1) * stride + x - channels] } else { 0 };
                let predicted = match filter {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                    4 => paeth(a, b, c),
                    f => panic!("PNG filter {f}"),
                };
                pixels[y * stride + x] = line[x].wrapping_add(predicted);
            }
        }
        let rgb = pixels.chunks(channels).map(|p| [p[0], p[1], p[2]]).collect();
        Png { width, height, rgb }
    }

    fn colours(&self) -> usize {
        let mut seen: Vec<[u8; 3]> = self.rgb.clone();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    }

    fn pixels_near(&self, colour: [u8; 3]) -> usize {
        self.rgb.iter().filter(|p| p.iter().zip(colour).all(|(&a, b)| a.abs_diff(b) <= 6)).count()
    }
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = ((p - i16::from(a)).abs(), (p - i16::from(b)).abs(), (p - i16::from(c)).abs());
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}
