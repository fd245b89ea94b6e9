//! What the alert says, from either protocol: OSSEC's argv or Wazuh's JSON line. Every
//! field is untrusted; this module only takes it apart and refuses what cannot be a field.

use dbaudit_record::normalised::LineFields;
use serde_json::Value;

/// Which protocol the alert came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// ossec-execd: `add|delete user srcip alertid ruleid location filename` in argv.
    Ossec,
    /// wazuh-execd ≥ 4.2: one JSON line on stdin, no arguments.
    Wazuh,
}

impl Protocol {
    /// The name written in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Ossec => "ossec",
            Protocol::Wazuh => "wazuh",
        }
    }
}

/// What execd asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// The rule fired.
    Add,
    /// The response's timeout ran out (or execd is stopping): undo.
    Delete,
}

impl Command {
    fn parse(text: &str) -> Option<Command> {
        match text {
            "add" => Some(Command::Add),
            "delete" => Some(Command::Delete),
            _ => None,
        }
    }

    /// The name written in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "add",
            Command::Delete => "delete",
        }
    }
}

/// One alert, as far as the protocol carried it. Text fields hold no control characters
/// and are bounded in length; absent fields (`-`) are `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// How it came.
    pub protocol: Protocol,
    /// add or delete.
    pub command: Command,
    /// The account as the audit line names it: `USER()` of the session, `name@client-host`.
    pub user: Option<String>,
    /// The decoder's srcip: the session's connection id (`conn=`), which keeps ossec-execd
    /// from merging the responses of different accounts.
    pub srcip: Option<String>,
    /// OSSEC's alert id (`time.offset`) or Wazuh's `id`.
    pub alert_id: Option<String>,
    /// The rule that fired.
    pub rule_id: Option<String>,
    /// Where the event was read (`(agent) ip->file` for remote agents).
    pub location: Option<String>,
    /// OSSEC's decoded filename field; dbaudit's decoders do not set it.
    pub filename: Option<String>,
    /// `op=` of the audit line, when the protocol carried the line (Wazuh's `full_log`).
    pub op: Option<String>,
    /// `table=`: the database and the table, each decoded on its own.
    pub table: Option<(String, String)>,
    /// `pk=`: each key column and its value's bytes, split before they were decoded.
    pub pk: Option<Vec<(String, Vec<u8>)>>,
    /// `seq=`: the record's sequence number.
    pub seq: Option<u64>,
    /// Columns the audit line shows masked (`"col":"secret:…"`): never written in clear here either.
    pub secret_columns: Vec<String>,
}

/// Why the input is refused: one line naming the field and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The longest field taken (OSSEC's whole message is at most 1,024 bytes; a location is a path).
const MAX_FIELD: usize = 1024;

/// `text` shortened and escaped for a message: never more than one line.
pub(crate) fn shown(text: &str) -> String {
    let mut out: String = text.chars().take(80).flat_map(char::escape_default).collect();
    if text.chars().count() > 80 {
        out.push('…');
    }
    out
}

/// A field: `-` or empty is absent; control characters or an over-long value are refused.
fn field(name: &str, text: &str) -> Result<Option<String>, Refusal> {
    if text.is_empty() || text == "-" {
        return Ok(None);
    }
    if text.len() > MAX_FIELD {
        return Err(Refusal(format!("{name} is {} bytes long (at most {MAX_FIELD})", text.len())));
    }
    if text.chars().any(char::is_control) {
        return Err(Refusal(format!("{name} \"{}\" holds control characters", shown(text))));
    }
    Ok(Some(text.to_owned()))
}

/// Parses ossec-execd's argv (without the program name):
/// `add|delete user srcip alertid ruleid [location… [filename]]`.
///
/// A remote agent's location, `(agent) ip->file`, holds a space and arrives as two
/// arguments: everything between the rule id and the last argument is the location.
pub(crate) fn from_argv(args: &[String]) -> Result<Alert, Refusal> {
    if !(5..=9).contains(&args.len()) {
        return Err(Refusal(format!(
            "{} arguments; ossec-execd passes add|delete user srcip alertid ruleid location filename",
            args.len()
        )));
    }
    let command = Command::parse(&args[0])
        .ok_or_else(|| Refusal(format!("command \"{}\" is neither add nor delete", shown(&args[0]))))?;
    let (location, filename) = match args.len() {
        5 => (None, None),
        6 => (field("location", &args[5])?, None),
        n => (field("location", &args[5..n - 1].join(" "))?, field("filename", &args[n - 1])?),
    };
    let alert_id = field("alertid", &args[3])?;
    if let Some(id) = &alert_id {
        if !id.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(Refusal(format!("alertid \"{}\" is not time.offset", shown(id))));
        }
    }
    let rule_id = field("ruleid", &args[4])?;
    if let Some(id) = &rule_id {
        if !id.chars().all(|c| c.is_ascii_digit()) {
            return Err(Refusal(format!("ruleid \"{}\" is not a number", shown(id))));
        }
    }
    Ok(Alert {
        protocol: Protocol::Ossec,
        command,
        user: field("user", &args[1])?,
        srcip: field("srcip", &args[2])?,
        alert_id,
        rule_id,
        location,
        filename,
        op: None,
        table: None,
        pk: None,
        seq: None,
        secret_columns: Vec::new(),
    })
}

/// Parses wazuh-execd's JSON line: `{"version":1,"command":"add"|"delete","parameters":{"alert":{…}}}`.
///
/// The account comes from the decoded data (`dstuser`, then `srcuser`, then `user`), else
/// from `user=` in `full_log`; table, primary key and seq come from `full_log`.
pub(crate) fn from_json(line: &str) -> Result<Alert, Refusal> {
    let message: Value =
        serde_json::from_str(line).map_err(|e| Refusal(format!("stdin is not a Wazuh JSON message: {e}")))?;
    if !message.get("version").is_some_and(Value::is_number) {
        return Err(Refusal("stdin holds no \"version\": not a Wazuh ≥ 4.2 message".into()));
    }
    let command_text = message.get("command").and_then(Value::as_str).unwrap_or("");
    let command = Command::parse(command_text)
        .ok_or_else(|| Refusal(format!("command \"{}\" is neither add nor delete", shown(command_text))))?;
    let alert = message
        .pointer("/parameters/alert")
        .filter(|a| a.is_object())
        .ok_or_else(|| Refusal("the message holds no parameters.alert object".into()))?;
    let text = |pointer: &str| -> Option<String> {
        match alert.pointer(pointer)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let full_log = text("/full_log");
    let fields = full_log.as_deref().map(LineFields::parse).unwrap_or_default();
    let from_log = |key: &str| fields.text(key);

    let user = text("/data/dstuser").or_else(|| text("/data/srcuser")).or_else(|| text("/data/user"));
    let user = match user {
        Some(user) => field("data.dstuser", &user)?,
        None => match from_log("user") {
            Some(user) => field("full_log user=", &user)?,
            None => None,
        },
    };
    let srcip = match text("/data/srcip").or_else(|| from_log("conn")) {
        Some(ip) => field("srcip", &ip)?,
        None => None,
    };
    let seq = match from_log("seq") {
        Some(seq) => {
            Some(seq.parse().map_err(|_| Refusal(format!("full_log seq=\"{}\" is not a number", shown(&seq))))?)
        }
        None => None,
    };
    Ok(Alert {
        protocol: Protocol::Wazuh,
        command,
        user,
        srcip,
        alert_id: field("alert.id", &text("/id").unwrap_or_default())?,
        rule_id: field("rule.id", &text("/rule/id").unwrap_or_default())?,
        location: field("location", &text("/location").unwrap_or_default())?,
        filename: None,
        op: field("full_log op=", &from_log("op").unwrap_or_default())?,
        table: match fields.table("table") {
            Some((db, table)) => Some((required("full_log table=", &db)?, required("full_log table=", &table)?)),
            None => None,
        },
        pk: fields.pk().filter(|pk| !pk.is_empty()),
        seq,
        secret_columns: fields.data().map(secret_columns).unwrap_or_default(),
    })
}

/// A field that must be there: like [`field`], and absent is refused too.
fn required(name: &str, text: &str) -> Result<String, Refusal> {
    field(name, text)?.ok_or_else(|| Refusal(format!("{name} is empty")))
}

/// The column names whose value the `data=` JSON shows masked: `"name":"secret:…"`. A scan,
/// not a parse: the normaliser may have cut the JSON short.
fn secret_columns(data: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.find("\":\"secret:") {
        let before = &rest[..at];
        if let Some(start) = before.rfind(['{', ',']).and_then(|i| before[i + 1..].strip_prefix('"')) {
            if !names.iter().any(|n| n == start) {
                names.push(start.to_owned());
            }
        }
        rest = &rest[at + 10..];
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn ossec_argv_is_taken_apart() {
        let alert =
            from_argv(&argv("add admin@localhost - 1795681579.1 100025 /var/ossec/logs/dbaudit.log -")).unwrap();
        assert_eq!(alert.command, Command::Add);
        assert_eq!(alert.user.as_deref(), Some("admin@localhost"));
        assert_eq!(alert.srcip, None);
        assert_eq!(alert.alert_id.as_deref(), Some("1795681579.1"));
        assert_eq!(alert.rule_id.as_deref(), Some("100025"));
        assert_eq!(alert.location.as_deref(), Some("/var/ossec/logs/dbaudit.log"));
        assert_eq!(alert.filename, None);
    }

    #[test]
    fn a_remote_agents_location_spans_two_arguments() {
        let alert =
            from_argv(&argv("delete admin@localhost localhost 1.2 100025 (db1) 10.0.0.5->/var/log/x.log -")).unwrap();
        assert_eq!(alert.command, Command::Delete);
        assert_eq!(alert.location.as_deref(), Some("(db1) 10.0.0.5->/var/log/x.log"));
        assert_eq!(alert.filename, None);
    }

    #[test]
    fn junk_argv_is_refused() {
        let long = "a".repeat(5000);
        for text in [
            "add",
            "drop admin@localhost - 1.2 100025 /l -",
            "add admin@localhost - 1.2 100025; /l -",
            "add admin@localhost - 1;2 100025 /l -",
            "add a@b\nc - 1.2 100025 /l -",
            &format!("add {long}@localhost - 1.2 100025 /l -"),
        ] {
            let args = argv(text);
            assert!(from_argv(&args).is_err(), "{args:?}");
        }
    }

    const LINE: &str = "2026-11-26T08:31:24.123456+00:00 dbhost dbaudit: op=update table=acme.users \
        user=ad%20min@localhost host=localhost conn=17 seq=42 pk=id:7 changed=password \
        data={\"old\":{\"id\":\"7\",\"password\":\"secret:5be0aa\"},\"new\":{\"id\":\"7\",\"password\":\"secret:77\"} user=x@y}";

    #[test]
    fn wazuh_json_falls_back_to_full_log() {
        let message = serde_json::json!({
            "version": 1, "origin": {"name": "node01", "module": "wazuh-execd"}, "command": "add",
            "parameters": {"extra_args": [], "program": "active-response/bin/dbaudit-respond",
                "alert": {"id": "1700000000.42", "rule": {"id": "100025"}, "location": "/var/ossec/logs/dbaudit.log",
                          "full_log": LINE}}
        });
        let alert = from_json(&message.to_string()).unwrap();
        assert_eq!(alert.protocol, Protocol::Wazuh);
        assert_eq!(alert.user.as_deref(), Some("ad min@localhost"));
        assert_eq!(alert.srcip.as_deref(), Some("17"), "srcip is the connection id, as the decoder maps it");
        assert_eq!(alert.table, Some(("acme".into(), "users".into())));
        assert_eq!(alert.pk, Some(vec![("id".into(), b"7".to_vec())]));
        assert_eq!(alert.seq, Some(42));
        assert_eq!(alert.op.as_deref(), Some("update"));
        assert_eq!(alert.rule_id.as_deref(), Some("100025"));
        assert_eq!(alert.secret_columns, ["password"]);
    }

    #[test]
    fn decoded_data_wins_over_full_log() {
        let message = serde_json::json!({"version": 1, "command": "delete",
            "parameters": {"alert": {"data": {"dstuser": "app@10.0.0.9", "srcip": "10.0.0.9"}, "full_log": LINE}}});
        let alert = from_json(&message.to_string()).unwrap();
        assert_eq!(alert.command, Command::Delete);
        assert_eq!(alert.user.as_deref(), Some("app@10.0.0.9"));
        assert_eq!(alert.srcip.as_deref(), Some("10.0.0.9"));
    }

    #[test]
    fn a_forged_line_names_no_user() {
        let line =
            "2026-11-26T08:31:24.123456+00:00 h dbaudit: op=forged claimed_user=root@localhost claimed_table=a.b";
        let message = serde_json::json!({"version": 1, "command": "add", "parameters": {"alert": {"full_log": line}}});
        let alert = from_json(&message.to_string()).unwrap();
        assert_eq!(alert.user, None);
        assert_eq!(alert.op.as_deref(), Some("forged"));
    }

    #[test]
    fn a_repeated_or_undecodable_field_is_absent() {
        let fields = LineFields::parse("op=update user=a@b user=c@d table=x%zz.y");
        assert_eq!(fields.text("user"), None);
        assert_eq!(fields.table("table"), None);
        assert_eq!(fields.text("op").as_deref(), Some("update"));
    }

    #[test]
    fn a_key_value_holding_separators_stays_one_value() {
        let line = r#"{"version":1,"command":"add","parameters":{"alert":{"full_log":"2026-11-26T08:31:24.123456+00:00 h dbaudit: op=delete table=a%2Eb.c user=u@h host=h conn=3 seq=4 pk=id:x%2Cid2%3Ay,id2:z%2BA data={}"}}}"#;
        let alert = from_json(line).unwrap();
        assert_eq!(alert.table, Some(("a.b".into(), "c".into())));
        assert_eq!(alert.pk, Some(vec![("id".into(), b"x,id2:y".to_vec()), ("id2".into(), b"z+A".to_vec())]));
        let sign = line.replace("z%2BA", "z%+A");
        assert_eq!(from_json(&sign).unwrap().pk, None, "%+A is no escape");
    }

    #[test]
    fn junk_json_is_refused() {
        for line in [
            "",
            "{",
            "[]",
            "{\"version\":1,\"command\":\"add\"}",
            "{\"command\":\"add\",\"parameters\":{\"alert\":{}}}",
        ] {
            assert!(from_json(line).is_err(), "{line}");
        }
    }
}
