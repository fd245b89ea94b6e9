//! The files in `ossec/` against the lines dbaudit-normalise really writes: every decoder and
//! rule is run over normalised lines of every kind, made by the normaliser's own `Frame` from
//! records sealed by `dbaudit_record`'s chain, through the model of OSSEC in
//! `dbaudit_tests::ossec_regex` (OSSEC is in no package registry). The XML is read with
//! `roxmltree`, so every file is also checked to be well formed.

use std::path::{Path, PathBuf};

use dbaudit_record::normalised::Frame;
use dbaudit_record::{
    parse_view, Chain, ChainPoint, ClaimedRef, ColumnRef, DriftRef, Epoch, EventRef, Key, LostRef, Op, RowRef, Tamper,
    TamperKind, Timestamp,
};
use dbaudit_tests::ossec_regex::{Alert, Analysisd, Decoder, OsMatch, OsRegex, Rule};
use regex::Regex;
use roxmltree::{Document, Node};

const TS: Timestamp = Timestamp(1_795_681_884_123_456);

fn ossec_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ossec")
}

fn read(name: &str) -> String {
    let path = ossec_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// OSSEC files hold several top-level elements: parse them inside a synthetic root.
fn with_root<T>(text: &str, root: &str, f: impl FnOnce(Node) -> T) -> T {
    assert!(!text.trim_start().starts_with("<?xml"), "an XML declaration cannot be pasted or included");
    let wrapped = format!("<{root}>{text}</{root}>");
    let doc = Document::parse(&wrapped).unwrap_or_else(|e| panic!("not well formed: {e}"));
    f(doc.root_element())
}

fn elements<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(Node::is_element)
}

fn text_of<'a>(node: Node<'a, '_>, tag: &str) -> Option<&'a str> {
    elements(node).find(|c| c.has_tag_name(tag)).map(|c| c.text().unwrap_or(""))
}

fn load_decoders(xml: &str) -> Vec<Decoder> {
    with_root(xml, "decoders", |root| {
        elements(root)
            .map(|d| {
                assert!(d.has_tag_name("decoder"), "{:?} at the top of a decoder file", d.tag_name());
                let name = d.attribute("name").expect("decoder without name");
                for option in elements(d) {
                    let tag = option.tag_name().name();
                    assert!(
                        ["parent", "program_name", "prematch", "regex", "order"].contains(&tag),
                        "decoder {name}: <{tag}> is not modelled"
                    );
                    assert!(
                        option.attributes().len() == 0,
                        "decoder {name}: <{tag}> has attributes (offsets are not modelled)"
                    );
                }
                Decoder::new(
                    name,
                    text_of(d, "parent"),
                    text_of(d, "program_name"),
                    text_of(d, "prematch"),
                    text_of(d, "regex"),
                    text_of(d, "order"),
                )
                .unwrap_or_else(|e| panic!("decoder {name}: {e}"))
            })
            .collect()
    })
}

/// Rule options that OSSEC 2.9, 3.x, 4.x and Wazuh 4 all load (rules.c of each).
const PORTABLE_OPTIONS: [&str; 12] = [
    "if_sid",
    "if_matched_sid",
    "decoded_as",
    "match",
    "regex",
    "user",
    "action",
    "program_name",
    "same_user",
    "check_diff",
    "description",
    "group",
];

fn load_rules(xml: &str) -> Vec<Rule> {
    with_root(xml, "rules", |root| {
        let mut rules = Vec::new();
        for group in elements(root) {
            assert!(group.has_tag_name("group"), "only <group> may be at the top of a rule file");
            assert_eq!(group.attributes().map(|a| a.name()).collect::<Vec<_>>(), ["name"]);
            for node in elements(group) {
                assert!(node.has_tag_name("rule"), "only <rule> inside <group>");
                rules.push(rule_from(node));
            }
        }
        rules
    })
}

fn rule_from(node: Node) -> Rule {
    let number =
        |name: &str| node.attribute(name).map(|v| v.parse::<u64>().unwrap_or_else(|e| panic!("{name}={v}: {e}")));
    for attribute in node.attributes() {
        assert!(
            ["id", "level", "frequency", "timeframe"].contains(&attribute.name()),
            "attribute {}",
            attribute.name()
        );
    }
    let mut rule = Rule {
        id: number("id").expect("rule without id") as u32,
        level: number("level").expect("rule without level") as u8,
        frequency: number("frequency").unwrap_or(0) as u32,
        timeframe: number("timeframe").unwrap_or(360),
        ..Rule::default()
    };
    let id = rule.id;
    let compile_match = |text: &str| OsMatch::new(text).unwrap_or_else(|e| panic!("rule {id}: {e}"));
    for option in elements(node) {
        let tag = option.tag_name().name();
        assert!(PORTABLE_OPTIONS.contains(&tag), "rule {id}: <{tag}> does not load on every OSSEC and Wazuh");
        let text = option.text().unwrap_or("");
        match tag {
            "if_sid" => rule.if_sid = text.split(',').map(|s| s.trim().parse().unwrap()).collect(),
            "if_matched_sid" => rule.if_matched_sid = Some(text.trim().parse().unwrap()),
            "decoded_as" => rule.decoded_as = Some(text.to_owned()),
            "match" => rule.matches = Some(compile_match(text)),
            "regex" => rule.regex = Some(OsRegex::new(text).unwrap_or_else(|e| panic!("rule {id}: {e}"))),
            "user" => rule.user = Some(compile_match(text)),
            "program_name" => rule.program_name = Some(compile_match(text)),
            "action" => rule.action = Some(text.to_owned()),
            "same_user" => rule.same_user = true,
            "check_diff" => rule.check_diff = true,
            _ => assert!(!text.trim().is_empty(), "rule {id}: empty <{tag}>"),
        }
    }
    rule
}

/// Stock pieces our rules hang on, as ossec-hids ships them (etc/decoder.xml, rules/ossec_rules.xml).
const STOCK_DECODERS: &str = r#"<decoder name="ossec"><prematch>^ossec: </prematch></decoder>"#;
const STOCK_RULES: &str = r#"<group name="ossec,">
  <rule id="500" level="0"><decoded_as>ossec</decoded_as><description>Grouping of ossec rules.</description></rule>
  <rule id="530" level="0"><if_sid>500</if_sid><match>^ossec: output: </match><description>OSSEC process monitoring rules.</description></rule>
</group>"#;

/// The stock decoders and rules, then ours, then `local` (an administrator's local_rules.xml).
fn analysisd_with(local: &str) -> Analysisd {
    let mut decoders = load_decoders(STOCK_DECODERS);
    decoders.extend(load_decoders(&read("dbaudit_decoders.xml")));
    let mut rules = load_rules(STOCK_RULES);
    rules.extend(load_rules(&read("dbaudit_rules.xml")));
    rules.extend(load_rules(local));
    Analysisd::new(decoders, rules).unwrap_or_else(|e| panic!("OSSEC would not start: {e}"))
}

fn analysisd() -> Analysisd {
    analysisd_with("")
}

fn alert(line: &str) -> Alert {
    analysisd().analyse(line, 0).unwrap_or_else(|| panic!("no rule for {line}"))
}

/// Normalised lines, written as dbaudit-normalise writes them, from records sealed on one chain.
struct Feed {
    chain: Chain,
    frame: Frame,
    start: String,
}

impl Feed {
    fn new() -> Feed {
        let chain = Chain::new(Key::from_bytes([7; 32]), Epoch(0x9f2c_41d0_7b3e_5a18));
        let mut feed = Feed { chain, frame: Frame::new("dbhost"), start: String::new() };
        let start = feed.seal(&EventRef::Start { prev: None });
        feed.start = feed.line(&start);
        feed
    }

    /// The record line for `event`, without its newline.
    fn seal(&mut self, event: &EventRef) -> Vec<u8> {
        let mut out = Vec::new();
        let point = self.chain.append_next(&mut out, TS, event);
        self.chain.advance(point);
        out.pop();
        out
    }

    fn line(&mut self, record: &[u8]) -> String {
        let mut out = Vec::new();
        self.frame.record(&mut out, &parse_view(record).expect("the chain's own record parses"));
        finish(out)
    }

    fn row(&mut self, op: Op, user: &str, conn: u64, table: (&str, &str), columns: &[(&str, &str)]) -> String {
        let values: Vec<ColumnRef> = columns
            .iter()
            .map(|(n, v)| ColumnRef { name: n.as_bytes(), value: Some(v.as_bytes()), secret: false })
            .collect();
        let olds: Vec<ColumnRef> =
            columns.iter().map(|(n, _)| ColumnRef { name: n.as_bytes(), value: Some(b"old"), secret: false }).collect();
        let changed: Vec<&[u8]> = columns.iter().skip(1).map(|(n, _)| n.as_bytes()).collect();
        let (changed, old, new) = match op {
            Op::Insert => (None, None, Some(&values[..])),
            Op::Update => (Some(&changed[..]), Some(&olds[..]), Some(&values[..])),
            Op::Delete => (None, Some(&values[..]), None),
        };
        let record = self.seal(&EventRef::Row(RowRef {
            db: table.0.as_bytes(),
            table: table.1.as_bytes(),
            op,
            user: user.as_bytes(),
            conn,
            pk: &values[..1],
            changed,
            old,
            new,
        }));
        self.line(&record)
    }

    fn update(&mut self, user: &str, conn: u64) -> String {
        self.row(Op::Update, user, conn, ("acme", "users"), &[("id", "7"), ("password", "secret:5be0")])
    }

    fn forged(&mut self, claimed: ClaimedRef) -> String {
        let record = self.seal(&EventRef::Forged(claimed));
        self.line(&record)
    }

    /// A tamper line, as the reader writes it or (`rechecked`) as the re-check of delivered records does.
    fn tamper(&mut self, kind: TamperKind, rechecked: bool) -> String {
        let start = self.seal(&EventRef::Start { prev: None });
        let last = ChainPoint { epoch: Epoch(1), seq: 3, mac: parse_view(&start).unwrap().mac };
        let line = self.seal(&EventRef::Row(RowRef {
            db: b"acme",
            table: b"users",
            op: Op::Update,
            user: b"admin@localhost",
            conn: 9,
            pk: &[],
            changed: Some(&[]),
            old: Some(&[]),
            new: Some(&[]),
        }));
        let record = parse_view(&line).unwrap();
        let tamper = Tamper { kind, epoch: record.epoch, seq: record.seq, last: Some(last) };
        let mut out = Vec::new();
        if rechecked {
            self.frame.recheck_tamper(&mut out, &tamper, &record);
        } else {
            self.frame.tamper(&mut out, &tamper, &record);
        }
        finish(out)
    }

    fn record(&mut self, event: &EventRef) -> String {
        let record = self.seal(event);
        self.line(&record)
    }

    fn error(&mut self, kind: &str) -> String {
        let mut out = Vec::new();
        self.frame.error(&mut out, TS, kind, &[("file", b"/var/log/mysql/dbaudit.log")]);
        finish(out)
    }
}

fn finish(out: Vec<u8>) -> String {
    let text = String::from_utf8(out).expect("normalised lines are UTF-8");
    assert_eq!(text.matches('\n').count(), 1, "one line: {text}");
    text.trim_end_matches('\n').to_owned()
}

fn claimed<'a>(user: Option<&'a [u8]>, db: Option<&'a [u8]>, table: Option<&'a [u8]>) -> ClaimedRef<'a> {
    ClaimedRef { db, table, op: Some(b"update"), user, conn: Some(b"3") }
}

/// ossec-execd's checks on what it is handed (analysisd.c): a failing value means no response.
fn execd_accepts_user(user: &str) -> bool {
    Regex::new(r"^[a-zA-Z._0-9@?-]*$").unwrap().is_match(user)
}

fn execd_accepts_srcip(srcip: &str) -> bool {
    Regex::new(r"^[a-zA-Z.:_0-9-]*$").unwrap().is_match(srcip)
}

#[test]
fn every_xml_file_in_ossec_is_well_formed() {
    let mut seen = 0;
    for entry in std::fs::read_dir(ossec_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".xml") {
            continue;
        }
        let root = if name.starts_with("ossec.conf.") { "ossec_config" } else { "dbaudit" };
        let count = with_root(&read(&name), root, |root| elements(root).count());
        assert!(count > 0, "{name} holds no element");
        seen += 1;
    }
    assert!(seen >= 5, "found only {seen} XML files in ossec/");
}

#[test]
fn every_decoder_pattern_is_in_the_dialect_and_stops_where_every_engine_stops() {
    for decoder in load_decoders(&read("dbaudit_decoders.xml")) {
        for pattern in [&decoder.prematch, &decoder.regex].into_iter().flatten() {
            assert_eq!(pattern.ambiguous_quantifiers(), Vec::<String>::new(), "decoder {}", decoder.name);
        }
        if decoder.parent.is_some() {
            assert!(
                decoder.prematch.is_some(),
                "child decoder {} has no prematch: it would take every line",
                decoder.name
            );
        }
    }
}

#[test]
fn the_catch_all_child_decoder_comes_last() {
    let decoders = load_decoders(&read("dbaudit_decoders.xml"));
    let children: Vec<&Decoder> = decoders.iter().filter(|d| d.parent.is_some()).collect();
    let last = children.last().unwrap();
    assert_eq!(last.prematch.as_ref().unwrap().source(), "^op=");
    for earlier in &children[..children.len() - 1] {
        assert_ne!(earlier.prematch.as_ref().unwrap().source(), "^op=", "{} hides the decoders after it", earlier.name);
    }
}

#[test]
fn rule_ids_and_levels_are_the_design_table() {
    let rules = load_rules(&read("dbaudit_rules.xml"));
    let table: Vec<(u32, u8)> = rules.iter().map(|r| (r.id, r.level)).collect();
    assert_eq!(
        table,
        [
            (100020, 0),
            (100021, 3),
            (100025, 7),
            (100026, 10),
            (100027, 12),
            (100028, 12),
            (100029, 10),
            (100030, 10),
            (100031, 9)
        ]
    );
    with_root(&read("dbaudit_rules.xml"), "rules", |root| {
        for group in elements(root) {
            let name = group.attribute("name").unwrap();
            assert!(name.split(',').any(|g| g == "dbaudit") && name.ends_with(','), "group {name:?}");
            for rule in elements(group) {
                let id = rule.attribute("id").unwrap();
                let description = text_of(rule, "description").unwrap_or("");
                assert!(description.starts_with("dbaudit: ") && description.len() > 25, "rule {id}: {description:?}");
                if id != "100020" {
                    let tags = text_of(rule, "group").unwrap_or_else(|| panic!("rule {id} has no compliance tags"));
                    assert!(
                        tags.contains("pci_dss_10.") && tags.contains("hipaa_") && tags.contains("nist_800_53_"),
                        "{id}"
                    );
                    assert!(tags.ends_with(','), "rule {id}: groups end with a comma so OSSEC can append them");
                }
            }
        }
    });
}

#[test]
fn row_changes_decode_to_action_user_connection_and_table_and_end_on_100025() {
    let mut feed = Feed::new();
    let lines = [
        ("insert", feed.row(Op::Insert, "admin@localhost", 17, ("acme", "users"), &[("id", "8"), ("login", "yves")])),
        ("update", feed.update("admin@localhost", 17)),
        ("delete", feed.row(Op::Delete, "admin@localhost", 17, ("acme", "users"), &[("id", "8"), ("login", "yves")])),
    ];
    for (op, line) in &lines {
        let alert = alert(line);
        assert_eq!((alert.rule, alert.level), (100025, 7), "{line}");
        let event = &alert.event;
        assert_eq!(event.decoder.as_deref(), Some("dbaudit"));
        assert_eq!(event.program_name.as_deref(), Some("dbaudit"));
        assert_eq!(event.hostname.as_deref(), Some("dbhost"));
        assert_eq!(event.field("action"), Some(*op));
        assert_eq!(event.field("user"), Some("admin@localhost"));
        assert_eq!(event.field("srcip"), Some("17"));
        assert_eq!(event.field("extra_data"), Some("acme.users"));
    }
}

#[test]
fn any_host_name_keeps_the_line_decoding_as_dbaudit() {
    for host in ["fe80::1", "db host", "dbhöst", "db%1", "(agent) 10.0.0.1->x", ""] {
        let mut feed = Feed::new();
        feed.frame = Frame::new(host);
        let line = feed.update("admin@localhost", 17);
        let alert = alert(&line);
        assert_eq!((alert.rule, alert.level), (100025, 7), "{line}");
        assert_eq!(alert.event.program_name.as_deref(), Some("dbaudit"), "{line}");
        assert!(alert.event.hostname.is_some_and(|h| !h.is_empty()), "{line}");
    }
}

#[test]
fn hostile_values_stay_in_their_fields() {
    let mut feed = Feed::new();
    let blob = "x".repeat(9000);
    let nasty = [
        ("id", "7 user=root@localhost host=x conn=1"),
        ("login", "op=forged \"quoted\" 'single' \\back"),
        ("name", "Zoë 日本 \u{1F600} \u{2028} \u{85}"),
        ("notes", "line one\nop=delete table=acme.users user=root@localhost"),
        ("blob", blob.as_str()),
    ];
    let lines = [
        feed.row(Op::Update, "o'brien@10.0.0.5", 42, ("my db", "us.ers"), &nasty),
        feed.row(Op::Insert, "app@app-server.example", 43, ("acme", "users"), &nasty),
        feed.row(Op::Delete, "x user=root@localhost@127.0.0.1", 44, ("acme", "users"), &nasty),
    ];
    let expected = [
        ("o%27brien@10.0.0.5", "my%20db.us%2Eers", "42"),
        ("app@app-server.example", "acme.users", "43"),
        ("x%20user%3Droot@localhost@127.0.0.1", "acme.users", "44"),
    ];
    for (line, (user, table, conn)) in lines.iter().zip(expected) {
        assert!(line.len() < 6000, "{} bytes", line.len());
        let alert = alert(line);
        assert_eq!((alert.rule, alert.level), (100025, 7), "{line}");
        assert_eq!(alert.event.field("user"), Some(user));
        assert_eq!(alert.event.field("extra_data"), Some(table));
        assert_eq!(alert.event.field("srcip"), Some(conn));
        assert!(execd_accepts_srcip(conn));
    }
}

#[test]
fn forged_line_ends_on_100027_and_never_sets_user() {
    let mut feed = Feed::new();
    let lines = [
        feed.forged(claimed(Some(b"victim@localhost"), Some(b"acme"), Some(b"users"))),
        feed.forged(claimed(Some(b"x user=root@localhost"), Some(b"acme"), Some(b"users"))),
        feed.forged(claimed(None, None, None)),
    ];
    for line in &lines {
        assert!(line.contains(" claimed_user="), "{line}");
        let alert = alert(line);
        assert_eq!((alert.rule, alert.level), (100027, 12), "{line}");
        assert_eq!(alert.event.field("action"), Some("forged"));
        assert_eq!(alert.event.field("user"), None, "a forger could have an innocent account locked: {line}");
    }
    assert_eq!(alert(&lines[0]).event.field("extra_data"), Some("acme.users"));
}

#[test]
fn tampered_log_ends_on_100028_for_every_kind_without_a_user() {
    let mut feed = Feed::new();
    let kinds = [(TamperKind::Gap, "gap"), (TamperKind::Mac, "mac"), (TamperKind::Order, "order")];
    for ((kind, name), rechecked) in kinds.iter().flat_map(|&kind| [(kind, false), (kind, true)]) {
        let line = feed.tamper(kind, rechecked);
        assert_eq!(line.contains(" found=recheck "), rechecked, "{line}");
        assert!(line.contains(" claimed_user=admin@localhost"), "{line}");
        let alert = alert(&line);
        assert_eq!((alert.rule, alert.level), (100028, 12), "{line}");
        assert_eq!(alert.event.field("status"), Some(name));
        assert_eq!(alert.event.field("user"), None);
    }
}

#[test]
fn stream_start_ends_on_100021_and_normaliser_trouble_on_100031() {
    let mut feed = Feed::new();
    let start = alert(&feed.start);
    assert_eq!((start.rule, start.level, start.event.field("action")), (100021, 3, Some("start")));
    for kind in ["unparsable", "unanchored", "replay", "lost"] {
        let error = alert(&feed.error(kind));
        assert_eq!((error.rule, error.level), (100031, 9));
        assert_eq!(error.event.field("status"), Some(kind));
    }
}

#[test]
fn drift_ends_on_100026_with_the_actor_and_calls_no_response() {
    let mut feed = Feed::new();
    let line = feed.record(&EventRef::Drift(DriftRef {
        db: b"acme",
        table: b"users",
        row_op: Op::Delete,
        user: b"app@10.0.0.5",
        conn: 42,
        error: b"1054: Unknown column 'b' in 'OLD'",
    }));
    let alert = alert(&line);
    assert_eq!((alert.rule, alert.level), (100026, 10), "{line}");
    assert_eq!(alert.event.field("action"), Some("drift"));
    assert_eq!(alert.event.field("user"), Some("app@10.0.0.5"));
    assert_eq!(alert.event.field("extra_data"), Some("acme.users"));
    assert!(!response_rules().contains(&100026));
}

#[test]
fn records_the_udf_could_not_write_end_on_100031_as_kind_lost() {
    let mut feed = Feed::new();
    let line = feed.record(&EventRef::Lost(LostRef { count: 3, since: TS, error: b"No such file or directory" }));
    let alert = alert(&line);
    assert_eq!((alert.rule, alert.level, alert.event.field("status")), (100031, 9, Some("lost")), "{line}");
}

#[test]
fn an_op_no_rule_knows_stays_silent_and_other_programs_are_not_ours() {
    let mut ossec = analysisd();
    let unknown = ossec.analyse("2026-11-26T08:31:24.123456+00:00 dbhost dbaudit: op=vacuum epoch=1 seq=2", 0).unwrap();
    assert_eq!((unknown.rule, unknown.level, unknown.event.field("action")), (100020, 0, Some("vacuum")));
    let seed = "2011-01-08 00:31:24 mysqld op=update table=acme.users user=admin@localhost host=localhost conn=1";
    assert_eq!(ossec.analyse(seed, 0), None, "the seed's bare date is not pre-decoded, so it is not ours");
    let other = "2026-11-26T08:31:24+00:00 dbhost sshd[7]: op=update table=acme.users user=admin@localhost host=localhost conn=1";
    assert_eq!(ossec.analyse(other, 0), None);
}

#[test]
fn twenty_changes_by_one_account_within_a_minute_end_on_100030() {
    let mut feed = Feed::new();
    let mut ossec = analysisd();
    for i in 0..19 {
        let eve = ossec.analyse(&feed.update("eve@10.0.0.9", 30), i).unwrap();
        assert_eq!(eve.rule, 100025, "change {}", i + 1);
        let other = ossec.analyse(&feed.update(&format!("user{i}@localhost"), 31 + i), i).unwrap();
        assert_eq!(other.rule, 100025, "other accounts neither count nor fire");
    }
    let burst = ossec.analyse(&feed.update("eve@10.0.0.9", 30), 20).unwrap();
    assert_eq!((burst.rule, burst.level, burst.event.field("user")), (100030, 10, Some("eve@10.0.0.9")));
    assert_eq!(ossec.analyse(&feed.update("eve@10.0.0.9", 30), 21).unwrap().rule, 100025, "counted changes count once");

    let mut slow = analysisd();
    for i in 0..40 {
        assert_eq!(
            slow.analyse(&feed.update("eve@10.0.0.9", 30), i * 4).unwrap().rule,
            100025,
            "15 a minute is not a burst"
        );
    }
}

#[test]
fn fingerprint_change_ends_on_100029_through_530_and_check_diff() {
    let alias = with_root(&read("ossec.conf.fingerprint.xml"), "ossec_config", |root| {
        let localfile = elements(root).find(|e| e.has_tag_name("localfile")).unwrap();
        assert_eq!(text_of(localfile, "log_format"), Some("full_command"));
        // dbaudit install fills the placeholder with the installed program (and its option file).
        assert_eq!(text_of(localfile, "command"), Some("{{dbaudit}} fingerprint"));
        let frequency: u64 = text_of(localfile, "frequency").unwrap().parse().unwrap();
        assert!((60..=3600).contains(&frequency), "frequency {frequency}");
        text_of(localfile, "alias").unwrap().to_owned()
    });
    let rules = load_rules(&read("dbaudit_rules.xml"));
    let rule = rules.iter().find(|r| r.id == 100029).unwrap();
    assert_eq!(rule.if_sid, [530]);
    assert!(rule.check_diff);
    assert_eq!(rule.matches.as_ref().unwrap().source(), format!("ossec: output: '{alias}'"));

    let output = |body: &str| format!("ossec: output: '{alias}':{body}");
    let mut ossec = analysisd();
    let before = output("udf dbaudit_log 0.1.0; trigger acme.users dbaudit_ai 1f3a; grants app@localhost 77c1");
    let after = output("udf dbaudit_log 0.1.0; grants app@localhost 77c1");
    assert_eq!(ossec.analyse(&before, 0).unwrap().rule, 530, "the first run only records");
    assert_eq!(ossec.analyse(&before, 300).unwrap().rule, 530, "no change, no alert");
    let changed = ossec.analyse(&after, 600).unwrap();
    assert_eq!((changed.rule, changed.level), (100029, 10));
    let other = ossec.analyse("ossec: output: 'netstat -tan':tcp 0 0 0.0.0.0:22", 0).unwrap();
    assert_eq!(other.rule, 530, "other commands' output is not ours");
}

/// The level 3 example in the comment at the top of dbaudit_rules.xml, as an administrator copies it.
fn documented_allowed_account_rule() -> String {
    let rules = read("dbaudit_rules.xml");
    let start = rules.find("<group name=\"local,dbaudit,\">").expect("the comment shows an allowed-account rule");
    let end = start + rules[start..].find("</group>").unwrap() + "</group>".len();
    rules[start..end].to_owned()
}

#[test]
fn an_allowed_account_child_of_100025_stops_the_response_for_that_account_only() {
    let allowed = documented_allowed_account_rule();
    let mut feed = Feed::new();
    let mut ossec = analysisd_with(&allowed);
    for i in 0..25 {
        let app = ossec.analyse(&feed.update("app@localhost", 5), i).unwrap();
        assert_eq!((app.rule, app.level), (100100, 3), "never 100025 nor 100030, so no response");
    }
    let evil = ossec.analyse(&feed.update("evilapp@localhost", 6), 30).unwrap();
    assert_eq!(evil.rule, 100025, "^…$ keeps the substring match from allowing look-alikes");
    let elsewhere = feed.row(Op::Update, "app@localhost", 5, ("acme", "prices"), &[("id", "1"), ("price", "0")]);
    assert_eq!(ossec.analyse(&elsewhere, 31).unwrap().rule, 100025, "allowed on acme.users only");
    let responded = response_rules();
    assert!(!responded.contains(&100100) && responded.contains(&100025));
}

fn response_rules() -> Vec<u32> {
    with_root(&read("ossec.conf.active-response.xml"), "ossec_config", |root| {
        let ar = elements(root).find(|e| e.has_tag_name("active-response")).unwrap();
        text_of(ar, "rules_id").unwrap().split(',').map(|id| id.trim().parse().unwrap()).collect()
    })
}

#[test]
fn active_response_gets_the_account_and_a_key_execd_never_confuses_across_accounts() {
    with_root(&read("ossec.conf.active-response.xml"), "ossec_config", |root| {
        let command = elements(root).find(|e| e.has_tag_name("command")).unwrap();
        let ar = elements(root).find(|e| e.has_tag_name("active-response")).unwrap();
        assert_eq!(text_of(command, "name"), text_of(ar, "command"));
        assert_eq!(text_of(command, "executable"), Some("dbaudit-respond"));
        let expect: Vec<&str> = text_of(command, "expect").unwrap().split(',').map(str::trim).collect();
        assert!(expect.contains(&"user") && expect.contains(&"srcip"), "{expect:?}");
        assert_eq!(text_of(command, "timeout_allowed"), Some("yes"));
        assert_eq!(text_of(ar, "location"), Some("local"));
        let timeout: u64 = text_of(ar, "timeout").unwrap().parse().unwrap();
        assert!(timeout >= 60, "lock mode needs a timeout to unlock");
    });
    assert!(response_rules().contains(&100025));

    let mut feed = Feed::new();
    let mut keys = Vec::new();
    for (user, conn) in [("admin@localhost", 17), ("app@localhost", 18), ("eve@127.0.0.1", 19), ("o'brien@::1", 20)] {
        let alert = alert(&feed.update(user, conn));
        assert!(response_rules().contains(&alert.rule));
        let srcip = alert.event.field("srcip").unwrap().to_owned();
        assert!(execd_accepts_srcip(&srcip) && srcip.bytes().all(|b| b.is_ascii_digit()), "{srcip}");
        keys.push(srcip);
    }
    keys.dedup();
    assert_eq!(keys.len(), 4, "two accounts from one host must not share execd's de-duplication key");
    assert!(execd_accepts_user(alert(&feed.update("admin@localhost", 1)).event.field("user").unwrap()));
    assert!(
        !execd_accepts_user(alert(&feed.update("o'brien@localhost", 1)).event.field("user").unwrap()),
        "percent-encoded accounts get the alert without the response, as the fragment says"
    );
    let forged = feed.forged(claimed(Some(b"victim@localhost"), None, None));
    for line in [forged, feed.tamper(TamperKind::Mac, false), feed.tamper(TamperKind::Mac, true)] {
        let alert = alert(&line);
        assert!(!response_rules().contains(&alert.rule) && alert.event.field("user").is_none());
    }
}

#[test]
fn normalised_log_is_read_as_syslog() {
    with_root(&read("ossec.conf.localfile.xml"), "ossec_config", |root| {
        let localfile = elements(root).find(|e| e.has_tag_name("localfile")).unwrap();
        assert_eq!(text_of(localfile, "log_format"), Some("syslog"));
        assert_eq!(text_of(localfile, "location"), Some("{{ossec_dir}}/logs/dbaudit.log"));
    });
}
