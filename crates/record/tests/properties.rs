//! Property tests of the byte-level format: whatever the values hold, a record is one line
//! that reads back as written, and no change to a sealed log goes unnoticed.

use dbaudit_record::normalised::{decode, Frame, LineFields};
use dbaudit_record::{
    parse, parse_view, Chain, ClaimedRef, Column, ColumnRef, Columns, Drift, DriftRef, Epoch, Event, EventRef,
    EventView, Key, Lost, LostRef, Mac, Op, Row, RowRef, Sealed, Timestamp, Value, Verifier, MAC_SUFFIX_LEN,
};
use proptest::prelude::*;

/// Values that like to break line-oriented formats, mixed with arbitrary bytes.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop_oneof![
        Just(b"\n2011-01-07 16:38:30 Table: acme.users: insert(1,x,y) by root@localhost".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\0".to_vec()),
        Just("\u{2028}\u{2029}".as_bytes().to_vec()),
        Just(br#"","mac":"00000000000000000000000000000000"}"#.to_vec()),
        Just(b"{\"hex\":\"ff\"}".to_vec()),
        Just(b"\\\\\"".to_vec()),
        Just(vec![0xff, 0xfe, 0xc3]),
        Just("é😀".as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..40),
    ];
    prop::collection::vec(pieces, 0..6).prop_map(|parts| parts.concat())
}

fn value() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![1 => Just(None), 6 => hostile_bytes().prop_map(Some)]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![Just("mac".to_owned()), Just("a,b".to_owned()), "\\PC{0,12}", ".{0,8}"]
}

#[derive(Clone, Debug)]
struct OwnedRow {
    db: Vec<u8>,
    table: Vec<u8>,
    op: Op,
    user: Vec<u8>,
    conn: u64,
    old: Vec<(String, Option<Vec<u8>>)>,
    new: Vec<(String, Option<Vec<u8>>)>,
    pk: Vec<(String, Option<Vec<u8>>)>,
    changed: Vec<String>,
}

fn columns() -> impl Strategy<Value = Vec<(String, Option<Vec<u8>>)>> {
    prop::collection::vec((name(), value()), 0..6)
}

fn row() -> impl Strategy<Value = OwnedRow> {
    (
        hostile_bytes(),
        hostile_bytes(),
        prop_oneof![Just(Op::Insert), Just(Op::Update), Just(Op::Delete)],
        hostile_bytes(),
        any::<u64>(),
        columns(),
        columns(),
        columns(),
        prop::collection::vec(name(), 0..3),
    )
        .prop_map(|(db, table, op, user, conn, old, new, pk, changed)| OwnedRow {
            db,
            table,
            op,
            user,
            conn,
            old: if op.has_old() { old } else { Vec::new() },
            new: if op.has_new() { new } else { Vec::new() },
            pk,
            changed: if op == Op::Update { changed } else { Vec::new() },
        })
}

fn refs(columns: &[(String, Option<Vec<u8>>)]) -> Vec<ColumnRef<'_>> {
    columns.iter().map(|(n, v)| ColumnRef { name: n.as_bytes(), value: v.as_deref(), secret: false }).collect()
}

fn owned(columns: &[(String, Option<Vec<u8>>)]) -> Vec<Column> {
    columns.iter().map(|(n, v)| Column { name: n.clone(), value: Value::from_bytes(v.as_deref()) }).collect()
}

/// Writes `row` as the next record of `chain` and returns the line and the record it must read back as.
fn write_row(chain: &mut Chain, row: &OwnedRow, ts: Timestamp) -> (Vec<u8>, Row) {
    let (old, new, pk) = (refs(&row.old), refs(&row.new), refs(&row.pk));
    let changed: Vec<&[u8]> = row.changed.iter().map(|c| c.as_bytes()).collect();
    let event = EventRef::Row(RowRef {
        db: &row.db,
        table: &row.table,
        op: row.op,
        user: &row.user,
        conn: row.conn,
        pk: &pk,
        changed: (row.op == Op::Update).then_some(&changed[..]),
        old: row.op.has_old().then_some(&old[..]),
        new: row.op.has_new().then_some(&new[..]),
    });
    let mut line = Vec::new();
    let point = chain.append_next(&mut line, ts, &event);
    chain.advance(point);
    let expected = Row {
        db: Value::from_bytes(Some(&row.db)),
        table: Value::from_bytes(Some(&row.table)),
        op: row.op,
        user: Value::from_bytes(Some(&row.user)),
        conn: row.conn,
        pk: owned(&row.pk),
        changed: (row.op == Op::Update).then(|| row.changed.clone()),
        old: row.op.has_old().then(|| owned(&row.old)),
        new: row.op.has_new().then(|| owned(&row.new)),
    };
    (line, expected)
}

fn started_chain(key: &Key, epoch: u64) -> (Chain, Vec<u8>) {
    let mut chain = Chain::new(key.clone(), Epoch(epoch));
    let mut line = Vec::new();
    let point = chain.append_next(&mut line, Timestamp(1_795_681_884_000_000), &EventRef::Start { prev: None });
    chain.advance(point);
    (chain, line)
}

/// A valid log: two epochs, rows and a forged call, one line each (newlines stripped).
fn sealed_log(key: &Key, rows: &[OwnedRow]) -> Vec<Vec<u8>> {
    let (mut chain, start) = started_chain(key, 0x1111);
    let mut lines = vec![start];
    for (i, row) in rows.iter().enumerate() {
        if i == rows.len() / 2 {
            let mut line = Vec::new();
            let claimed = ClaimedRef { db: Some(b"acme"), table: None, op: Some(b"x"), user: None, conn: Some(b"1") };
            let point = chain.append_next(&mut line, Timestamp(1), &EventRef::Forged(claimed));
            chain.advance(point);
            lines.push(line);
            let drift = DriftRef {
                db: b"acme",
                table: b"users",
                row_op: Op::Delete,
                user: b"app@localhost",
                conn: 9,
                error: b"1054: Unknown column 'b' in 'OLD'",
            };
            let lost = LostRef { count: 3, since: Timestamp(1), error: b"disk full" };
            for event in [EventRef::Drift(drift), EventRef::Lost(lost)] {
                let mut line = Vec::new();
                let point = chain.append_next(&mut line, Timestamp(1), &event);
                chain.advance(point);
                lines.push(line);
            }
            let prev = chain.tip();
            chain = Chain::new(key.clone(), Epoch(0x2222 + i as u64));
            let mut line = Vec::new();
            let point = chain.append_next(&mut line, Timestamp(2), &EventRef::Start { prev });
            chain.advance(point);
            lines.push(line);
        }
        lines.push(write_row(&mut chain, row, Timestamp(3 + i as u64)).0);
    }
    for line in &mut lines {
        assert_eq!(line.pop(), Some(b'\n'));
    }
    lines
}

/// The normalised line of `row`, written as the next record of a fresh chain.
fn normalised(row: &OwnedRow) -> String {
    let key = Key::from_bytes([9; 32]);
    let (mut chain, _) = started_chain(&key, 1);
    let (mut line, _) = write_row(&mut chain, row, Timestamp(1_795_681_884_000_000));
    line.pop();
    let mut out = Vec::new();
    Frame::new("dbhost").record(&mut out, &parse_view(&line).unwrap());
    String::from_utf8(out).unwrap()
}

/// Whether the verifier objects to `lines` in any way.
fn objects(key: &Key, lines: &[Vec<u8>]) -> bool {
    let mut verifier = Verifier::new(key.clone());
    lines.iter().any(|line| match verifier.check(line) {
        Err(_) => true,
        Ok(verdict) => verdict.tamper.is_some() || !verdict.anchored,
    })
}

/// The columns as a view reads them: names unescaped, values' bytes (unescaped or from hex).
fn viewed(columns: &Columns) -> Vec<(String, Option<Vec<u8>>)> {
    columns
        .iter()
        .map(|(name, value)| {
            let text = String::from_utf8(name.text().into_owned()).unwrap();
            assert_eq!(name.is_escaped(), name.raw() != text.as_bytes());
            (text, value.bytes().map(|b| b.into_owned()))
        })
        .collect()
}

/// A JSON value of the normalised line's `data=` as (name, bytes) pairs.
fn data_columns(object: &serde_json::Value) -> Vec<(String, Option<Vec<u8>>)> {
    object
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, value)| {
            let bytes = match value {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some(s.clone().into_bytes()),
                other => Some(dbaudit_record::hex::decode_lower(other["hex"].as_str().unwrap().as_bytes()).unwrap()),
            };
            (name.clone(), bytes)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_values_give_one_line_that_reads_back_the_same(row in row(), ts in 0u64..253_402_300_799_999_999) {
        let key = Key::from_bytes([3; 32]);
        let (mut chain, _) = started_chain(&key, 42);
        let start = chain.tip();
        let (line, expected) = write_row(&mut chain, &row, Timestamp(ts));
        prop_assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        prop_assert_eq!(line.last(), Some(&b'\n'));
        prop_assert!(!line.contains(&b'\r') && !line.contains(&0));
        let record = parse(&line[..line.len() - 1]).unwrap();
        prop_assert_eq!(record.seq, 1);
        prop_assert_eq!(record.ts, Timestamp(ts));
        prop_assert_eq!(record.event, Event::Row(expected));
        let verdict = Verifier::resume(key, start).check(&line[..line.len() - 1]).unwrap();
        prop_assert_eq!(verdict.tamper, None);
    }

    #[test]
    fn drift_and_lost_records_read_back_the_same(
        db in hostile_bytes(), user in hostile_bytes(), error in hostile_bytes(), conn in any::<u64>(),
        count in any::<u64>(), since in 0u64..253_402_300_799_999_999,
    ) {
        let key = Key::from_bytes([3; 32]);
        let (mut chain, _) = started_chain(&key, 42);
        let drift = DriftRef { db: &db, table: b"t", row_op: Op::Update, user: &user, conn, error: &error };
        let lost = LostRef { count, since: Timestamp(since), error: &error };
        let expected = [
            Event::Drift(Drift {
                db: Value::from_bytes(Some(&db)),
                table: Value::Text("t".into()),
                row_op: Op::Update,
                user: Value::from_bytes(Some(&user)),
                conn,
                error: Value::from_bytes(Some(&error)),
            }),
            Event::Lost(Lost { count, since: Timestamp(since), error: Value::from_bytes(Some(&error)) }),
        ];
        for (event, expected) in [EventRef::Drift(drift), EventRef::Lost(lost)].iter().zip(expected) {
            let start = chain.tip();
            let mut line = Vec::new();
            let point = chain.append_next(&mut line, Timestamp(5), event);
            chain.advance(point);
            prop_assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
            let record = parse(&line[..line.len() - 1]).unwrap();
            prop_assert_eq!(record.event, expected);
            prop_assert_eq!(Verifier::resume(key.clone(), start).check(&line[..line.len() - 1]).unwrap().tamper, None);
        }
    }

    #[test]
    fn column_lists_split_back_into_the_names_joined(names in prop::collection::vec("\\PC{1,8}", 0..6)) {
        let joined = dbaudit_record::names::join(&names);
        let back: Vec<String> = dbaudit_record::names::split(joined.as_bytes())
            .into_iter()
            .map(|n| String::from_utf8(n.into_owned()).unwrap())
            .collect();
        prop_assert_eq!(back, names);
    }

    #[test]
    fn headers_read_back_the_names_they_carry(
        db in "\\PC{1,8}",
        table in "[,%\\\\a-z]{1,8}",
        pk in prop::collection::vec("[,%\\\\2Ca-z]{1,6}", 0..4),
        secrets in prop::collection::vec("\\PC{1,6}", 0..4),
    ) {
        use dbaudit_record::protocol::{header, list, read_header};
        let text = header("tok", &db, &table, dbaudit_record::Op::Update, &pk, &secrets);
        prop_assert!(!text.contains('\\'));
        let read = read_header(text.as_bytes()).unwrap();
        let names = |l: &[u8]| list(l).into_iter().map(|n| String::from_utf8(n.into_owned()).unwrap()).collect::<Vec<_>>();
        prop_assert_eq!((&*read.db, &*read.table), (db.as_bytes(), table.as_bytes()));
        prop_assert_eq!(names(&read.pk_cols), pk);
        prop_assert_eq!(names(&read.secret_cols), secrets);
    }

    #[test]
    fn a_sealed_log_verifies_clean(rows in prop::collection::vec(row(), 1..8)) {
        let key = Key::from_bytes([5; 32]);
        prop_assert!(!objects(&key, &sealed_log(&key, &rows)));
    }

    #[test]
    fn deleting_any_line_but_the_last_is_detected(rows in prop::collection::vec(row(), 2..8), pick in any::<prop::sample::Index>()) {
        let key = Key::from_bytes([5; 32]);
        let mut lines = sealed_log(&key, &rows);
        // The chain cannot see a cut tail: the normaliser's checkpoint does.
        let i = pick.index(lines.len() - 1);
        lines.remove(i);
        prop_assert!(objects(&key, &lines), "deleting line {} went unnoticed", i);
    }

    #[test]
    fn swapping_two_lines_is_detected(rows in prop::collection::vec(row(), 2..8), a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
        let key = Key::from_bytes([5; 32]);
        let mut lines = sealed_log(&key, &rows);
        let (a, b) = (a.index(lines.len()), b.index(lines.len()));
        prop_assume!(a != b);
        lines.swap(a, b);
        prop_assert!(objects(&key, &lines), "swapping lines {} and {} went unnoticed", a, b);
    }

    #[test]
    fn editing_any_byte_is_detected(rows in prop::collection::vec(row(), 1..8), line in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let key = Key::from_bytes([5; 32]);
        let mut lines = sealed_log(&key, &rows);
        let line = line.index(lines.len());
        let at = at.index(lines[line].len());
        prop_assume!(lines[line][at] != byte);
        lines[line][at] = byte;
        prop_assert!(objects(&key, &lines), "editing byte {} of line {} went unnoticed", at, line);
    }

    #[test]
    fn inserting_a_line_is_detected(rows in prop::collection::vec(row(), 1..8), extra in row(), at in any::<prop::sample::Index>(), copy in any::<bool>(), from in any::<prop::sample::Index>()) {
        let key = Key::from_bytes([5; 32]);
        let mut lines = sealed_log(&key, &rows);
        let inserted = if copy {
            lines[from.index(lines.len())].clone()
        } else {
            // A record sealed with another key, numbered as the next record would be.
            let forger = Key::from_bytes([6; 32]);
            let (mut chain, _) = started_chain(&forger, 0x2222);
            let mut line = write_row(&mut chain, &extra, Timestamp(9)).0;
            line.pop();
            line
        };
        let at = at.index(lines.len() + 1);
        lines.insert(at, inserted);
        prop_assert!(objects(&key, &lines), "inserting at {} went unnoticed", at);
    }

    #[test]
    fn the_view_reads_what_the_owned_parse_reads_in_place(row in row(), ts in 0u64..253_402_300_799_999_999) {
        let key = Key::from_bytes([9; 32]);
        let (mut chain, _) = started_chain(&key, 0x9f2c41d07b3e5a18);
        let (mut line, _) = write_row(&mut chain, &row, Timestamp(ts));
        line.pop();
        let view = parse_view(&line).unwrap();
        let record = parse(&line).unwrap();
        prop_assert_eq!(view.to_record(), record.clone());
        prop_assert_eq!(view.body, &line[..line.len() - MAC_SUFFIX_LEN]);
        prop_assert_eq!((view.epoch, view.seq, view.ts, view.mac), (record.epoch, record.seq, record.ts, record.mac));
        let EventView::Row(rv) = view.event else { panic!("a row record") };
        prop_assert_eq!(viewed(&rv.pk), row.pk.clone());
        prop_assert_eq!(rv.old.map(|c| viewed(&c)), row.op.has_old().then(|| row.old.clone()));
        prop_assert_eq!(rv.new.map(|c| viewed(&c)), row.op.has_new().then(|| row.new.clone()));
        let changed: Option<Vec<String>> = rv.changed.map(|n| n.iter().map(|s| s.unescaped()).collect());
        prop_assert_eq!(changed, (row.op == Op::Update).then(|| row.changed.clone()));
        prop_assert_eq!(rv.user.bytes().map(|b| b.into_owned()), Some(row.user.clone()));
        prop_assert_eq!(rv.conn, row.conn);
        let verdict = Verifier::new(key).check_view(&line).unwrap();
        prop_assert_eq!(verdict.record, view);
    }

    #[test]
    fn a_mac_computed_ahead_changes_no_verdict(
        rows in prop::collection::vec(row(), 1..4),
        edit in any::<Option<(prop::sample::Index, u8)>>(),
        guess in 0..3u8,
    ) {
        let key = Key::from_bytes([5; 32]);
        let mut lines = sealed_log(&key, &rows);
        let mut tip = Verifier::new(key.clone());
        for line in &lines[..lines.len() - 1] {
            let _ = tip.check(line);
        }
        if let Some((at, byte)) = edit {
            let last = lines.last_mut().unwrap();
            let at = at.index(last.len());
            last[at] = byte;
        }
        let line = lines.last().unwrap();
        // Chained to the line before (the helper's guess), to the verifier's own tip, or to nothing.
        let prev = match guess {
            0 => Sealed::claimed(&lines[lines.len() - 2]),
            1 => tip.tip().map(|t| t.mac),
            _ => Some(Mac([0x5a; 16])),
        };
        let ahead = prev.and_then(|prev| Sealed::ahead(&key, &prev, line));
        let (mut plain, mut helped) = (tip.clone(), tip);
        let verdict = plain.check_view(line).map(|v| (v.tamper, v.anchored, v.record.point()));
        let with_ahead = helped.check_view_sealed(line, ahead).map(|v| (v.tamper, v.anchored, v.record.point()));
        prop_assert_eq!(verdict, with_ahead);
        prop_assert_eq!(plain.tip(), helped.tip());
    }

    #[test]
    fn fields_of_the_normalised_line_decode_to_what_the_record_holds(row in row()) {
        let text = normalised(&row);
        let fields = LineFields::parse(text.trim_end());
        let cut = fields.raw("cut").unwrap_or("");
        if !cut.split(',').any(|c| c == "table") {
            let (db, table) = fields.raw("table").unwrap().split_once('.').unwrap();
            prop_assert_eq!(decode(db), Some(row.db.clone()));
            prop_assert_eq!(decode(table), Some(row.table.clone()));
        }
        if !cut.split(',').any(|c| c == "user") {
            prop_assert_eq!(decode(fields.raw("user").unwrap()), Some(row.user.clone()));
        }
        if !cut.split(',').any(|c| c == "pk") {
            let expected: Vec<(String, Vec<u8>)> =
                row.pk.iter().map(|(n, v)| (n.clone(), v.clone().unwrap_or_default())).collect();
            prop_assert_eq!(fields.pk(), Some(expected));
        }
    }

    #[test]
    fn data_on_the_normalised_line_is_the_rows_values_and_stays_printable(row in row()) {
        let text = normalised(&row);
        prop_assert_eq!(text.matches('\n').count(), 1);
        prop_assert!(!text.chars().any(|c| c != '\n' && (c.is_control() || c == '\u{2028}' || c == '\u{2029}')), "{}", text);
        prop_assume!(!text.contains(" cut="));
        let data: serde_json::Value = serde_json::from_str(text.trim_end().split(" data=").nth(1).unwrap()).unwrap();
        let side = |name: &str| data.get(name).map(data_columns);
        let sorted = |mut columns: Vec<(String, Option<Vec<u8>>)>| {
            // serde_json's map is ordered by key and keeps the last of duplicate names.
            let mut last = std::collections::BTreeMap::new();
            columns.drain(..).for_each(|(n, v)| { last.insert(n, v); });
            last.into_iter().collect::<Vec<_>>()
        };
        prop_assert_eq!(side("old"), row.op.has_old().then(|| sorted(row.old.clone())));
        prop_assert_eq!(side("new"), row.op.has_new().then(|| sorted(row.new.clone())));
    }
}
