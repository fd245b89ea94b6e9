//! The three AFTER triggers that send a table's row changes to `dbaudit_log`: the one
//! generator in the codebase. [`crate::watch_table`] installs its output, `dbaudit status`
//! compares the server's triggers with it.
//!
//! The call follows protocol 2 of [`dbaudit_record::protocol`], which the UDF reads: the
//! table's header, `USER()` and `CONNECTION_ID()`, then `OLD.<c> AS old.<c>` and
//! `NEW.<c> AS new.<c>` for every column. Bodies made by earlier builds (protocol 1) are
//! still read back ([`options_of`], [`written_for`], [`call_protocol`]).
//!
//! A trigger names the table's columns as they were when it was made. After `ALTER TABLE …
//! DROP COLUMN` or `RENAME COLUMN` its call fails at run time (ERROR 1054), which would fail
//! the user's statement. So the call sits in a block whose SQLEXCEPTION handler makes the
//! protocol's drift call instead, which the UDF records as `op:"drift"`: a fail-open trigger
//! then lets the statement through, a fail-closed one refuses it with a message that names
//! `dbaudit watch`. Either way the change is chained and alerted.

use dbaudit_connect::{quote_ident, quote_str};
use dbaudit_record::protocol::{self, Side};
use dbaudit_record::{names, Key, Op};

use crate::schema::{ColumnInfo, TableSchema};
use crate::table::TableName;

/// The longest identifier MySQL and MariaDB accept, in characters.
const MAX_IDENTIFIER: usize = 64;

/// The message a fail-closed trigger refuses the statement with.
pub const FAIL_CLOSED_MESSAGE: &str = "dbaudit: audit record not written; statement refused (fail-closed)";

/// The message a fail-closed trigger refuses the statement with when the table no longer
/// matches it. SIGNAL takes at most 128 characters, so it cannot name the table.
pub const DRIFT_MESSAGE: &str =
    "dbaudit: this table changed since dbaudit watch; statement refused (fail-closed): re-run dbaudit watch";

/// `ER_SIGNAL_EXCEPTION`: the fail-closed trigger's own SIGNAL, which its handler passes on.
const ER_SIGNAL_EXCEPTION: u32 = 1644;

/// The tokens triggers pass to `dbaudit_log`: one per table, from the installation's key and
/// the token generation the UDF accepts (see `Key::trigger_token`), so a token read from one
/// table's trigger forges nothing for another.
#[derive(Clone)]
pub struct Tokens {
    key: Key,
    generation: u32,
}

impl Tokens {
    /// Tokens of `generation`, derived from `key`.
    pub fn new(key: Key, generation: u32) -> Tokens {
        Tokens { key, generation }
    }

    /// The key they are derived from.
    pub fn into_key(self) -> Key {
        self.key
    }

    /// The token of `table`'s triggers, for the table as the server spells it.
    pub fn for_table(&self, table: &TableName) -> String {
        self.key.trigger_token(self.generation, table.db.as_bytes(), table.table.as_bytes())
    }
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens {{ generation: {} }}", self.generation)
    }
}

/// The SQL event of the trigger on `op`, as `information_schema.TRIGGERS.EVENT_MANIPULATION` writes it.
pub fn sql_event(op: Op) -> &'static str {
    match op {
        Op::Insert => "INSERT",
        Op::Update => "UPDATE",
        Op::Delete => "DELETE",
    }
}

/// The end of the name of the AFTER trigger on `op`.
fn suffix(op: Op) -> &'static str {
    match op {
        Op::Insert => "_ai",
        Op::Update => "_au",
        Op::Delete => "_ad",
    }
}

/// The trigger's pseudo-record that holds the row image of `side`.
fn pseudo_record(side: Side) -> &'static str {
    match side {
        Side::Old => "OLD",
        Side::New => "NEW",
    }
}

/// How a table is watched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchOptions {
    /// Columns whose values are recorded as a keyed mask, never in clear (matched
    /// case-insensitively; names the table lacks are ignored here).
    pub secrets: Vec<String>,
    /// Refuse the statement when the record cannot be written.
    pub fail_closed: bool,
}

/// One trigger to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    /// Its name: `dbaudit_<table>_ai|_au|_ad`, shortened with a hash when too long.
    pub name: String,
    /// The row change it fires on (always AFTER).
    pub event: Op,
    /// The body, as `information_schema.TRIGGERS.ACTION_STATEMENT` will show it.
    pub body: String,
}

impl Trigger {
    /// `CREATE [OR REPLACE] TRIGGER … AFTER … ON … FOR EACH ROW <body>`.
    pub fn create_sql(&self, table: &TableName, or_replace: bool) -> String {
        format!(
            "CREATE {}TRIGGER {}.{} AFTER {} ON {} FOR EACH ROW {}",
            if or_replace { "OR REPLACE " } else { "" },
            quote_ident(&table.db),
            quote_ident(&self.name),
            sql_event(self.event),
            table.to_sql(),
            self.body
        )
    }

    /// `DROP TRIGGER IF EXISTS …`.
    pub fn drop_sql(table: &TableName, name: &str) -> String {
        format!("DROP TRIGGER IF EXISTS {}.{}", quote_ident(&table.db), quote_ident(name))
    }
}

/// The triggers that watch one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriggerSet {
    /// The table.
    pub table: TableName,
    /// Its AFTER INSERT, UPDATE and DELETE triggers.
    pub triggers: [Trigger; 3],
    /// The secret columns, as the table spells them, in table order.
    pub secrets: Vec<String>,
}

impl TriggerSet {
    /// The triggers for `schema`, calling `dbaudit_log` with the table's token.
    pub fn generate(schema: &TableSchema, tokens: &Tokens, options: &WatchOptions) -> TriggerSet {
        TriggerSet::generate_as(schema, tokens, options, RowCall::Condition)
    }

    /// The triggers the build before this one made for the same table: its fail-open row call
    /// was `SET @dbaudit_seq = <call>`. They record the same; `dbaudit status` tells them
    /// from altered ones, and `watch --all` re-makes them.
    pub fn generate_earlier(schema: &TableSchema, tokens: &Tokens, options: &WatchOptions) -> TriggerSet {
        TriggerSet::generate_as(schema, tokens, options, RowCall::SetSeq)
    }

    fn generate_as(schema: &TableSchema, tokens: &Tokens, options: &WatchOptions, row_call: RowCall) -> TriggerSet {
        let token = tokens.for_table(&schema.name);
        let secrets: Vec<String> = schema
            .columns
            .iter()
            .filter(|c| options.secrets.iter().any(|s| s.to_lowercase() == c.name.to_lowercase()))
            .map(|c| c.name.clone())
            .collect();
        let key: Vec<String> = schema.key.columns().to_vec();
        let (db, table) = (&schema.name.db, &schema.name.table);
        let triggers = Op::ALL.map(|event| {
            let header = protocol::header(&token, db, table, event, &key, &secrets);
            let mut args = vec![quote_str(&header), "USER()".to_owned(), "CONNECTION_ID()".to_owned()];
            let mut drift = args.clone();
            drift[protocol::HEADER] = quote_str(&protocol::drift_header(&token, db, table, event));
            drift.push("CONCAT(@dbaudit_errno, ': ', @dbaudit_error)".to_owned());
            for &side in Side::of(event) {
                for column in &schema.columns {
                    let alias = format!("{}{}", side.prefix(), column.name);
                    args.push(format!("{} AS {}", value_expr(pseudo_record(side), column), quote_ident(&alias)));
                }
            }
            let (call, drift) = (call(&args), call(&drift));
            let body = if options.fail_closed {
                format!(
                    "BEGIN DECLARE EXIT HANDLER FOR SQLEXCEPTION {} IF {call} IS NULL THEN SIGNAL SQLSTATE '45000' \
                     SET MESSAGE_TEXT = {}; END IF; END",
                    drift_handler(&drift, true),
                    quote_str(FAIL_CLOSED_MESSAGE)
                )
            } else {
                let handler = drift_handler(&drift, false);
                match row_call {
                    RowCall::Condition => format!(
                        "BEGIN DECLARE CONTINUE HANDLER FOR SQLEXCEPTION {handler} IF {call} IS NULL THEN BEGIN END; \
                         END IF; END"
                    ),
                    RowCall::SetSeq => {
                        format!(
                            "BEGIN DECLARE CONTINUE HANDLER FOR SQLEXCEPTION {handler} SET @dbaudit_seq = {call}; END"
                        )
                    }
                }
            };
            Trigger { name: trigger_name(&schema.name.table, event), event, body }
        });
        TriggerSet { table: schema.name.clone(), triggers, secrets }
    }
}

/// How a fail-open trigger makes its row call. mysqld runs `SET @v = <call>` as a statement
/// of its own on every row (about 2,500 instructions more than the call); the condition of an
/// `IF` is only evaluated. A NULL (a record not written) needs nothing from the trigger: the
/// UDF counts it, says so in its next record and in `dbaudit_health()`.
#[derive(Clone, Copy)]
enum RowCall {
    Condition,
    /// The build before this one's.
    SetSeq,
}

/// `dbaudit_log(<args>)`.
fn call(args: &[String]) -> String {
    format!("dbaudit_log({})", args.join(", "))
}

/// The handler's body: read the error, record the drift (whatever befalls that call, it
/// must not replace the error being handled), then let the statement through (fail-open) or
/// refuse it (fail-closed). A fail-closed trigger's own refusal passes through unchanged.
fn drift_handler(drift: &str, fail_closed: bool) -> String {
    let (pass_own_signal, refuse) = if fail_closed {
        (
            format!("IF @dbaudit_errno = {ER_SIGNAL_EXCEPTION} THEN RESIGNAL; END IF; "),
            format!(" SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = {};", quote_str(DRIFT_MESSAGE)),
        )
    } else {
        (String::new(), String::new())
    };
    // User variables, not DECLAREd ones: mysqld makes a trigger's local variables afresh on
    // every row, handler or not, which cost a row more than the handler itself.
    format!(
        "BEGIN GET DIAGNOSTICS CONDITION 1 @dbaudit_errno = MYSQL_ERRNO, @dbaudit_error = MESSAGE_TEXT; \
         {pass_own_signal}BEGIN DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END; SET @dbaudit_drift = {drift}; \
         END;{refuse} END;"
    )
}

/// `dbaudit_<table><suffix>`. Trigger names of one schema must differ case-insensitively, so
/// a table name with capitals (`Users` beside `users`) gets a hash of its exact spelling; so
/// does one too long for 64 characters, cut to fit.
fn trigger_name(table: &str, event: Op) -> String {
    let name = format!("dbaudit_{table}{}", suffix(event));
    if name.chars().count() <= MAX_IDENTIFIER && table.to_lowercase() == table {
        return name;
    }
    let hash = blake3::hash(table.as_bytes()).to_hex();
    let room = MAX_IDENTIFIER - "dbaudit_".len() - 1 - 8 - suffix(event).len();
    let cut: String = table.chars().take(room).collect();
    format!("dbaudit_{cut}_{}{}", &hash[..8], suffix(event))
}

/// Spatial types reach the UDF as WKB; it records text instead.
const SPATIAL: [&str; 8] = [
    "geometry",
    "point",
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "geometrycollection",
];

/// The argument that carries `side`.`column`: the UDF gets bytes in the column's character
/// set, so text in other sets is converted to utf8mb4, and spatial values become WKT. A
/// TIMESTAMP reads in the writer's session time zone, so it is recorded in UTC with a `Z`;
/// should the server not know the session's zone by name (no time zone tables), the zone's
/// name follows the value instead.
fn value_expr(side: &str, column: &ColumnInfo) -> String {
    let value = format!("{side}.{}", quote_ident(&column.name));
    let utf8_or_binary = |cs: &str| matches!(cs.to_lowercase().as_str(), "utf8" | "utf8mb3" | "utf8mb4" | "binary");
    if column.data_type == "timestamp" {
        format!(
            "COALESCE(CONCAT(CONVERT_TZ({value}, @@session.time_zone, '+00:00'), 'Z'), \
             CONCAT({value}, ' ', @@session.time_zone))"
        )
    } else if SPATIAL.contains(&column.data_type.as_str()) {
        format!("ST_AsText({value})")
    } else if column.charset.as_deref().is_some_and(|cs| !utf8_or_binary(cs)) {
        format!("CONVERT({value} USING utf8mb4)")
    } else {
        value
    }
}

/// How an existing trigger of ours watches its table — its secret columns and whether it
/// fails closed — read back from its body, so that re-running `watch` never silently
/// reveals a secret or turns fail-closed into fail-open. None when the body is not one we
/// generate.
pub fn options_of(body: &str) -> Option<WatchOptions> {
    // Bodies of earlier builds (no handler) read the same way.
    let fail_closed = body.starts_with("BEGIN DECLARE EXIT HANDLER") || body.starts_with("BEGIN IF dbaudit_log(");
    let ours = ["BEGIN DECLARE CONTINUE HANDLER", "SET @dbaudit_seq = dbaudit_log("];
    if !fail_closed && !ours.iter().any(|start| body.starts_with(start)) {
        return None;
    }
    let call = row_call(body)?;
    Some(WatchOptions { secrets: call.secrets, fail_closed })
}

/// The table a trigger of ours was generated for, as its call names it: after `RENAME
/// TABLE` the trigger moves with the table but its records still name the old one.
pub fn written_for(body: &str) -> Option<TableName> {
    let call = row_call(body)?;
    Some(TableName { db: call.db, table: call.table })
}

/// The version of the call protocol (see [`dbaudit_record::protocol`]) that a trigger's row
/// call follows: 2 for what this build makes, 1 for triggers made by earlier builds.
pub fn call_protocol(body: &str) -> Option<u32> {
    row_call(body).map(|call| call.protocol)
}

/// What a `dbaudit_log` call in a trigger's body says of the table, read from its literals.
struct CallText {
    protocol: u32,
    db: String,
    table: String,
    op: String,
    secrets: Vec<String>,
}

/// The body's row call: the one that is not the drift call (the handler's call comes first).
fn row_call(body: &str) -> Option<CallText> {
    calls(body).filter_map(|args| read_call(&args)).find(|call| call.op != protocol::DRIFT_OP)
}

/// A call's literals: a protocol-2 header, or protocol 1's db, tbl, op and secret_cols.
fn read_call(args: &[&str]) -> Option<CallText> {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let literal = |i: usize| args.get(i).and_then(|a| unquote(a.trim()));
    let first = literal(0)?;
    if let Some(header) = protocol::read_header(first.as_bytes()) {
        return Some(CallText {
            protocol: 2,
            db: text(&header.db),
            table: text(&header.table),
            op: text(&header.op),
            secrets: protocol::list(&header.secret_cols).iter().map(|n| text(n)).collect(),
        });
    }
    Some(CallText {
        protocol: 1,
        db: literal(protocol::DB)?,
        table: literal(protocol::TABLE)?,
        op: literal(protocol::OP)?,
        secrets: names::split(literal(protocol::SECRET_COLS)?.as_bytes()).iter().map(|n| text(n)).collect(),
    })
}

/// The arguments of each `dbaudit_log(…)` call in `body`, outside string literals and quoted
/// names (a column may be named `dbaudit_log(`).
fn calls(body: &str) -> impl Iterator<Item = Vec<&str>> {
    const CALL: &str = "dbaudit_log(";
    let mut quote: Option<u8> = None;
    let mut starts = Vec::new();
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(b'\'') if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if matches!(b, b'\'' | b'`' | b'"') => quote = Some(b),
            None if bytes[i..].starts_with(CALL.as_bytes()) => {
                starts.push(i + CALL.len());
                i += CALL.len() - 1;
            }
            None => {}
        }
        i += 1;
    }
    starts.into_iter().filter_map(|start| call_arguments(&body[start..]))
}

/// The top-level arguments of a call whose text starts after its `(`.
fn call_arguments(text: &str) -> Option<Vec<&str>> {
    let mut args = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (Some('\''), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '`' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') if depth == 0 => {
                args.push(&text[start..i]);
                return Some(args);
            }
            (None, ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                args.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    None
}

/// The text of a string literal as [`quote_str`] writes it.
fn unquote(literal: &str) -> Option<String> {
    let inner = literal.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut text = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                '0' => text.push('\0'),
                'n' => text.push('\n'),
                c => text.push(c),
            },
            '\'' => {
                chars.next().filter(|c| *c == '\'')?;
                text.push('\'');
            }
            c => text.push(c),
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::RowKey;

    fn column(name: &str, data_type: &str, charset: Option<&str>) -> ColumnInfo {
        ColumnInfo {
            name: name.into(),
            data_type: data_type.into(),
            column_type: data_type.into(),
            charset: charset.map(Into::into),
            collation: None,
            nullable: "YES".into(),
            default: None,
            extra: String::new(),
            generation: None,
        }
    }

    fn users() -> TableSchema {
        TableSchema {
            name: TableName::new("acme", "users"),
            columns: vec![
                column("id", "int", None),
                column("Password", "char", Some("utf8mb4")),
                column("a,b\\c", "varchar", Some("latin1")),
                column("where", "point", None),
            ],
            indexes: Vec::new(),
            key: RowKey::Primary(vec!["id".into(), "a,b\\c".into()]),
        }
    }

    #[test]
    fn insert_trigger_is_the_documented_call() {
        let options = WatchOptions { secrets: vec!["password".into()], fail_closed: false };
        let tokens = Tokens::new(Key::from_bytes([1; 32]), 0);
        let set = TriggerSet::generate(&users(), &tokens, &options);
        let body = set.triggers[0].body.replace(&tokens.for_table(&set.table), "tok");
        assert_eq!(set.secrets, ["Password"]);
        let insert = &set.triggers[0];
        assert_eq!(insert.name, "dbaudit_users_ai");
        assert_eq!(
            body,
            r"BEGIN DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN GET DIAGNOSTICS CONDITION 1 @dbaudit_errno = MYSQL_ERRNO, @dbaudit_error = MESSAGE_TEXT; BEGIN DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END; SET @dbaudit_drift = dbaudit_log('dbaudit/2,tok,acme,users,drift,insert', USER(), CONNECTION_ID(), CONCAT(@dbaudit_errno, ': ', @dbaudit_error)); END; END; IF dbaudit_log('dbaudit/2,tok,acme,users,insert,id%2Ca%252Cb%255Cc,Password', USER(), CONNECTION_ID(), NEW.`id` AS `new.id`, NEW.`Password` AS `new.Password`, CONVERT(NEW.`a,b\c` USING utf8mb4) AS `new.a,b\c`, ST_AsText(NEW.`where`) AS `new.where`) IS NULL THEN BEGIN END; END IF; END"
        );
        assert!(set.triggers[1].body.contains("OLD.`id` AS `old.id`") && set.triggers[1].body.contains("NEW.`id`"));
        // information_schema shows string literals with backslash escapes undone: none may be
        // needed, or a body would never read back as generated.
        for trigger in &set.triggers {
            for args in calls(&trigger.body) {
                assert!(!args[0].contains('\\'), "{}", args[0]);
            }
        }
        assert!(!set.triggers[2].body.contains("NEW."));
        assert_eq!(
            insert.create_sql(&set.table, true)[..80],
            "CREATE OR REPLACE TRIGGER `acme`.`dbaudit_users_ai` AFTER INSERT ON `acme`.`users` FOR EACH ROW BEGIN"
                [..80]
        );
    }

    #[test]
    fn options_read_back_from_the_body() {
        for options in [
            WatchOptions { secrets: vec![], fail_closed: false },
            WatchOptions { secrets: vec!["Password".into(), "a,b\\c".into()], fail_closed: true },
        ] {
            let tokens = Tokens::new(Key::from_bytes([2; 32]), 7);
            let set = TriggerSet::generate(&users(), &tokens, &options);
            let earlier = TriggerSet::generate_earlier(&users(), &tokens, &options);
            for trigger in set.triggers.iter().chain(&earlier.triggers) {
                assert_eq!(options_of(&trigger.body), Some(options.clone()), "{}", trigger.body);
                assert_eq!(written_for(&trigger.body), Some(set.table.clone()));
                assert_eq!(call_protocol(&trigger.body), Some(2));
            }
            // Only a fail-open row call changed form.
            for (now, before) in set.triggers.iter().zip(&earlier.triggers) {
                assert_eq!(now.body == before.body, options.fail_closed, "{}", before.body);
                assert_eq!(before.body.contains("SET @dbaudit_seq = dbaudit_log("), !options.fail_closed);
            }
        }
        assert_eq!(options_of("SET @x = 1"), None);
        let earlier_build =
            "BEGIN IF dbaudit_log('t', 'd', 'u', 'update', USER(), CONNECTION_ID(), 'id', 'pw') IS NULL THEN";
        assert_eq!(options_of(earlier_build), Some(WatchOptions { secrets: vec!["pw".into()], fail_closed: true }));
        assert_eq!(options_of("SET @dbaudit_seq = dbaudit_log('t', 'd'"), None);
        assert_eq!(call_protocol(earlier_build), Some(1));
        let earlier =
            r"SET @dbaudit_seq = dbaudit_log('t', 'd', 'u', 'insert', USER(), CONNECTION_ID(), 'id', 'a\\,b')";
        assert_eq!(written_for(earlier), Some(TableName::new("d", "u")));
        assert_eq!(options_of(earlier).unwrap().secrets, ["a,b"]);
        let set = TriggerSet::generate(&users(), &Tokens::new(Key::from_bytes([3; 32]), 0), &WatchOptions::default());
        assert!(set.triggers.iter().all(|t| call_protocol(&t.body) == Some(2)));
    }

    #[test]
    fn long_names_are_cut_with_a_hash_that_keeps_them_apart() {
        let long = "t".repeat(64);
        let other = format!("{}x", "t".repeat(63));
        let (a, b) = (trigger_name(&long, Op::Update), trigger_name(&other, Op::Update));
        assert_eq!(a.chars().count(), 64);
        assert!(a.starts_with("dbaudit_ttt") && a.ends_with("_au"), "{a}");
        assert_ne!(a, b);
        let unicode = "ü".repeat(60);
        assert_eq!(trigger_name(&unicode, Op::Delete).chars().count(), 64);
        assert_eq!(trigger_name(&"x".repeat(53), Op::Insert).len(), 64);
    }

    #[test]
    fn names_differing_only_in_case_get_distinct_trigger_names() {
        let lower = trigger_name("users", Op::Insert);
        let upper = trigger_name("Users", Op::Insert);
        let shout = trigger_name("USERS", Op::Insert);
        assert_eq!(lower, "dbaudit_users_ai");
        assert!(upper.starts_with("dbaudit_Users_") && upper.ends_with("_ai"), "{upper}");
        for (a, b) in [(&lower, &upper), (&lower, &shout), (&upper, &shout)] {
            assert_ne!(a.to_lowercase(), b.to_lowercase());
        }
    }
}
