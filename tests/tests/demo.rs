//! `./install.sh --demo`, the README's first command, run as a user runs it: it builds the
//! kit, starts a throwaway MariaDB and OSSEC tree, and walks through every part. The test
//! checks the walk-through shows what the README promises.

use std::path::Path;
use std::process::Command;

#[test]
fn install_sh_demo_walks_through_the_whole_kit() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let output = Command::new("bash")
        .arg(workspace.join("install.sh"))
        .arg("--demo")
        .current_dir(workspace)
        // Its own target directory: the one `cargo test` holds is locked while tests run.
        .env("CARGO_TARGET_DIR", workspace.join("target").join("demo"))
        .output()
        .expect("cannot run bash install.sh --demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "install.sh --demo failed ({}):\n{stdout}\n{stderr}", output.status);
    for expected in [
        "<!-- dbaudit begin -->",
        "\"op\":\"start\"",
        "\"op\":\"forged\"",
        " op=insert table=acme.users user=app@localhost",
        " op=forged ",
        " op=tamper kind=mac",
        "this account is locked",
        "unlocked",
        "dbaudit_users_au",
        "done: the throwaway server and tree are removed",
    ] {
        assert!(stdout.contains(expected), "the demo did not show {expected:?}:\n{stdout}\n{stderr}");
    }
    // The statements themselves are echoed; no record may hold the password in clear.
    assert!(!stdout.contains("\"password\":\"zZDDIZ0NOlPzw\""), "a secret left the UDF:\n{stdout}");
}
