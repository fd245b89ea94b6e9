//! The statements the response runs, each with its values as parameters or quoted by
//! `dbaudit_connect`: the candidate accounts, lock and unlock, the sessions, `KILL`, and the
//! row's current state.

use dbaudit_connect::{connect, quote_ident, Account, ConnectError};
use mysql::prelude::Queryable;
use mysql::{Conn, Row, Value as SqlValue};
use serde_json::{json, Map, Value};

use crate::resolve::{host_matches, processlist_host, resolve, Resolution};

/// The longest text kept from one value or statement in the record.
const MAX_TEXT: usize = 256;
/// The most sessions listed in one record.
pub(crate) const MAX_SESSIONS: usize = 20;

/// A connection to the audited server.
pub(crate) struct Server {
    conn: Conn,
}

/// One open session, from `information_schema.PROCESSLIST`.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    /// The connection id.
    pub id: u64,
    /// The user name.
    pub user: String,
    /// The client host, port removed.
    pub host: String,
    /// The rest, as the record shows it.
    pub detail: Value,
}

impl Server {
    /// Connects with the configuration's settings and timeouts.
    pub(crate) fn connect(settings: &dbaudit_connect::Settings) -> Result<Server, ConnectError> {
        connect(settings).map(|conn| Server { conn })
    }

    /// Every `mysql.user` entry named `name`, and the anonymous ones (roles, with an empty
    /// host, cannot log in and are left out).
    pub(crate) fn candidates(&mut self, name: &str) -> mysql::Result<Vec<Account>> {
        let rows: Vec<(String, String)> = self
            .conn
            .exec("SELECT User, Host FROM mysql.user WHERE (User = ? OR User = '') AND Host <> ''", (name,))?;
        Ok(rows.into_iter().map(|(name, host)| Account { name, host }).collect())
    }

    /// The account `session` (as `USER()` shows it) authenticated as.
    pub(crate) fn resolve(&mut self, session: &Account) -> mysql::Result<(Resolution, Vec<Account>)> {
        let candidates = self.candidates(&session.name)?;
        Ok((resolve(session, &candidates), candidates))
    }

    /// Whether `account` is locked (`SHOW CREATE USER` ends with `ACCOUNT LOCK`, MariaDB and MySQL alike).
    pub(crate) fn is_locked(&mut self, account: &Account) -> mysql::Result<bool> {
        let create: Option<String> = self.conn.query_first(format!("SHOW CREATE USER {}", account.to_sql()))?;
        // Options after the last quoted value: a REQUIRE SUBJECT '…' could hold the words.
        Ok(create.is_some_and(|c| c.rsplit('\'').next().unwrap_or("").contains("ACCOUNT LOCK")))
    }

    /// `ALTER USER … ACCOUNT LOCK` or `UNLOCK`.
    pub(crate) fn set_locked(&mut self, account: &Account, locked: bool) -> mysql::Result<()> {
        let what = if locked { "LOCK" } else { "UNLOCK" };
        self.conn.query_drop(format!("ALTER USER {} ACCOUNT {what}", account.to_sql()))
    }

    /// The sessions whose user is `name`, this connection left out. Their statement text
    /// (`INFO`) is not taken: it can hold the very values dbaudit masks as secret.
    pub(crate) fn sessions(&mut self, name: &str) -> mysql::Result<Vec<Session>> {
        let own = u64::from(self.conn.connection_id());
        let rows: Vec<Row> = self.conn.exec(
            "SELECT ID, USER, HOST, DB, COMMAND, TIME, STATE FROM information_schema.PROCESSLIST \
             WHERE USER = ? AND ID <> ? ORDER BY ID",
            (name, own),
        )?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let text = |i: usize| row.as_ref(i).map(sql_text).unwrap_or_default();
                let full_host = text(2);
                let detail = json!({
                    "id": row.get::<u64, _>(0).unwrap_or(0), "host": full_host, "db": row.as_ref(3).map(to_json),
                    "command": text(4), "time": row.as_ref(5).map(to_json), "state": row.as_ref(6).map(to_json),
                });
                Session {
                    id: row.get::<u64, _>(0).unwrap_or(0),
                    user: text(1),
                    host: processlist_host(&full_host).to_owned(),
                    detail,
                }
            })
            .collect())
    }

    /// `KILL CONNECTION id`; `false` when the session was already gone.
    pub(crate) fn kill(&mut self, id: u64) -> mysql::Result<bool> {
        match self.conn.query_drop(format!("KILL CONNECTION {id}")) {
            Ok(()) => Ok(true),
            Err(mysql::Error::MySqlError(e)) if e.code == 1094 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The row of `db`.`table` whose primary key is `pk` (each key column and its value), now;
    /// columns named in `secret` are masked. `Err` says why it could not be had.
    pub(crate) fn row(
        &mut self,
        db: &str,
        name: &str,
        pk: &[(String, Vec<u8>)],
        secret: &[String],
    ) -> Result<Value, String> {
        let table = format!("{}.{}", quote_ident(db), quote_ident(name));
        let pk_columns: Vec<String> = self
            .conn
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.STATISTICS \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
                (db, name),
            )
            .map_err(|e| format!("cannot read the primary key of {table}: {e}"))?;
        if pk_columns.is_empty() {
            return Err(format!("{table} has no primary key visible to the [client] account"));
        }
        let named: Vec<&str> = pk.iter().map(|(column, _)| column.as_str()).collect();
        if named != pk_columns {
            return Err(format!(
                "pk names {} but the primary key of {table} is {}",
                crate::alert::shown(&named.join(",")),
                pk_columns.join(",")
            ));
        }
        let values: Vec<Vec<u8>> = pk.iter().map(|(_, value)| value.clone()).collect();
        let condition: Vec<String> = pk_columns.iter().map(|c| format!("{} <=> ?", quote_ident(c))).collect();
        let select = format!("SELECT * FROM {table} WHERE {} LIMIT 1", condition.join(" AND "));
        let row: Option<Row> = self.conn.exec_first(select, values).map_err(|e| format!("cannot read {table}: {e}"))?;
        let Some(row) = row else { return Ok(Value::Null) };
        let mut object = Map::new();
        for (i, column) in row.columns_ref().iter().enumerate() {
            let column_name = column.name_str().into_owned();
            let value = if secret.iter().any(|s| s.eq_ignore_ascii_case(&column_name)) {
                json!({"masked": "secret column"})
            } else {
                row.as_ref(i).map_or(Value::Null, to_json)
            };
            object.insert(column_name, value);
        }
        Ok(Value::Object(object))
    }
}

/// Which of `sessions` authenticated as `account`: those with its name whose host resolves
/// to it among `candidates` (a session of the same name from another host may be another account).
pub(crate) fn sessions_of<'a>(account: &Account, candidates: &[Account], sessions: &'a [Session]) -> Vec<&'a Session> {
    sessions
        .iter()
        .filter(|s| s.user == account.name && host_matches(&account.host, &s.host))
        .filter(|s| {
            let session = Account { name: s.user.clone(), host: s.host.clone() };
            resolve(&session, candidates) == Resolution::Account(account.clone())
        })
        .collect()
}

fn sql_text(value: &SqlValue) -> String {
    match to_json(value) {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A value as the record shows it: numbers as numbers, text cut to [`MAX_TEXT`] characters,
/// bytes that are not UTF-8 as `{"hex": …}`.
fn to_json(value: &SqlValue) -> Value {
    match value {
        SqlValue::NULL => Value::Null,
        SqlValue::Bytes(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) if text.chars().count() > MAX_TEXT => {
                json!({"text": text.chars().take(MAX_TEXT).collect::<String>(), "cut_from_bytes": bytes.len()})
            }
            Ok(text) => Value::String(text.to_owned()),
            Err(_) => json!({"hex": dbaudit_record::hex::encode(&bytes[..bytes.len().min(MAX_TEXT / 2)]),
                             "bytes": bytes.len()}),
        },
        SqlValue::Int(n) => json!(n),
        SqlValue::UInt(n) => json!(n),
        SqlValue::Float(n) => json!(n),
        SqlValue::Double(n) => json!(n),
        SqlValue::Date(y, mo, d, h, mi, s, us) => {
            Value::String(format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}"))
        }
        SqlValue::Time(negative, days, h, mi, s, us) => {
            let hours = u64::from(*days) * 24 + u64::from(*h);
            Value::String(format!("{}{hours:02}:{mi:02}:{s:02}.{us:06}", if *negative { "-" } else { "" }))
        }
    }
}
