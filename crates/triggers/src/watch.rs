//! Watching and unwatching a table (`dbaudit watch`, `dbaudit unwatch`, the tests): install
//! or remove its triggers, changing only what differs, with no moment in which a write goes
//! unaudited.

use std::io::Write;

use mysql::prelude::Queryable;

use crate::error::{Error, ErrorKind};
use crate::generator::{options_of, sql_event, Tokens, Trigger, TriggerSet, WatchOptions};
use crate::schema::{triggers_in, triggers_on, RowKey, TableSchema};
use crate::table::TableName;

/// MariaDB or MySQL: they differ in how a trigger can be replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// MariaDB: `CREATE OR REPLACE TRIGGER`.
    MariaDb,
    /// MySQL: no `OR REPLACE`; replacing is `DROP` + `CREATE` under `LOCK TABLES … WRITE`.
    MySql,
}

impl Flavour {
    /// The flavour of a server whose `@@version` is `version`.
    pub fn of_version(version: &str) -> Flavour {
        if version.contains("MariaDB") {
            Flavour::MariaDb
        } else {
            Flavour::MySql
        }
    }
}

/// What `watch` asks for, beyond the tables.
#[derive(Clone, Debug, Default)]
pub struct WatchRequest {
    /// `--secret` columns (kept in addition to those the table's triggers already mask).
    pub secrets: Vec<String>,
    /// `--fail-closed` (Some(true)) or `--fail-open` (Some(false)); None keeps the current mode.
    pub fail_closed: Option<bool>,
    /// Secret columns the watch list holds for the table: like those of its triggers, each
    /// must still be a column, or be released, or the table is not touched.
    pub kept: Vec<String>,
    /// `--release-secret` columns: recorded in clear from now on.
    pub release: Vec<String>,
}

/// What watching one table takes.
#[derive(Clone, Debug)]
pub struct WatchPlan {
    /// The table's schema as read.
    pub schema: TableSchema,
    /// The triggers it should have.
    pub set: TriggerSet,
    /// Whether they fail closed.
    pub fail_closed: bool,
    /// The statements that bring the server there; empty when it is already there.
    pub statements: Vec<String>,
}

impl WatchPlan {
    /// Reads the table and its triggers and works out what to change.
    pub fn make(
        conn: &mut impl Queryable,
        flavour: Flavour,
        name: &TableName,
        tokens: &Tokens,
        request: &WatchRequest,
    ) -> Result<WatchPlan, Error> {
        let schema = TableSchema::read(conn, name)?;
        let table = &schema.name;
        let in_db = triggers_in(conn, &table.db)?;
        let ours: Vec<_> = in_db.iter().filter(|t| t.table == table.table && t.is_ours()).collect();
        let current: Vec<WatchOptions> = ours.iter().filter_map(|t| options_of(&t.body)).collect();
        let same = |a: &str, b: &str| a.to_lowercase() == b.to_lowercase();
        let released = |name: &str| request.release.iter().any(|r| same(r, name));
        let mut kept: Vec<String> = request.kept.clone();
        kept.extend(current.iter().flat_map(|o| o.secrets.iter().cloned()));
        // A secret column that is gone was renamed or dropped: re-watching without it would
        // record the renamed column in clear. The operator names it again or lets it go.
        let mut gone: Vec<&str> = kept
            .iter()
            .filter(|k| !released(k) && !schema.columns.iter().any(|c| same(&c.name, k)))
            .map(String::as_str)
            .collect();
        gone.sort_by_key(|k| k.to_lowercase());
        gone.dedup_by_key(|k| k.to_lowercase());
        if !gone.is_empty() {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "{table}: secret column {} is gone (renamed or dropped); name its new name with --secret, or \
                     --release-secret {} to stop masking it; nothing changed",
                    gone.join(", "),
                    gone[0]
                ),
            ));
        }
        let mut secrets: Vec<String> = request.secrets.iter().chain(&kept).filter(|s| !released(s)).cloned().collect();
        secrets.sort_by_key(|s| s.to_lowercase());
        secrets.dedup_by_key(|s| s.to_lowercase());
        let fail_closed = request.fail_closed.unwrap_or(current.iter().any(|o| o.fail_closed));
        let set = TriggerSet::generate(&schema, tokens, &WatchOptions { secrets, fail_closed });

        let mut creates = Vec::new();
        let mut replaces = Vec::new();
        for trigger in &set.triggers {
            match in_db.iter().find(|e| e.name.to_lowercase() == trigger.name.to_lowercase()) {
                None => creates.push(trigger),
                Some(e) if e.table != table.table || !e.is_ours() => {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!(
                            "{table}: a trigger named {} already exists on {}.{} and is not dbaudit's; rename it, \
                             then re-run",
                            e.name, e.db, e.table
                        ),
                    ))
                }
                Some(e) if e.body == trigger.body && e.timing == "AFTER" && e.event == sql_event(trigger.event) => {}
                Some(_) => replaces.push(trigger),
            }
        }
        // Ours under other names (the table was renamed): dropped once the new ones are in place.
        let stale: Vec<&str> = ours
            .iter()
            .filter(|e| !set.triggers.iter().any(|t| t.name.to_lowercase() == e.name.to_lowercase()))
            .map(|e| e.name.as_str())
            .collect();
        let statements = statements(flavour, table, &creates, &replaces, &stale);
        Ok(WatchPlan { schema, set, fail_closed, statements })
    }

    /// One line on what the table's records will carry.
    pub fn summary(&self) -> String {
        let key = match &self.schema.key {
            RowKey::Primary(c) => format!("key {} (primary)", c.join(",")),
            RowKey::Unique(name, c) => format!("key {} (unique key {name}: the table has no primary key)", c.join(",")),
            RowKey::None => "no key: the table has no primary or NOT NULL unique key, records carry an empty pk".into(),
        };
        let secrets = if self.set.secrets.is_empty() {
            "no secret columns".to_owned()
        } else {
            format!("secret {}", self.set.secrets.join(","))
        };
        let mode = if self.fail_closed { "fail-closed" } else { "fail-open" };
        format!("{} columns; {key}; {secrets}; {mode}", self.schema.columns.len())
    }
}

/// The statements for a plan. MariaDB replaces in one statement under the table's metadata
/// lock; MySQL has no `OR REPLACE`, so its drop and create run under `LOCK TABLES … WRITE`,
/// which holds writers back until the new trigger is in place.
fn statements(
    flavour: Flavour,
    table: &TableName,
    creates: &[&Trigger],
    replaces: &[&Trigger],
    stale: &[&str],
) -> Vec<String> {
    let mut statements: Vec<String> = creates.iter().map(|t| t.create_sql(table, false)).collect();
    match flavour {
        Flavour::MariaDb => statements.extend(replaces.iter().map(|t| t.create_sql(table, true))),
        Flavour::MySql if !replaces.is_empty() => {
            statements.push(format!("LOCK TABLES {} WRITE", table.to_sql()));
            for trigger in replaces {
                statements.push(Trigger::drop_sql(table, &trigger.name));
                statements.push(trigger.create_sql(table, false));
            }
            statements.push("UNLOCK TABLES".into());
        }
        Flavour::MySql => {}
    }
    statements.extend(stale.iter().map(|name| Trigger::drop_sql(table, name)));
    statements
}

/// Runs `statements`; the error names the table and the statement's start.
pub fn apply(conn: &mut impl Queryable, table: &TableName, statements: &[String]) -> Result<(), Error> {
    for statement in statements {
        conn.query_drop(statement).map_err(|e| {
            let head: String = statement.chars().take(70).collect();
            Error::new(ErrorKind::Server, format!("{table}: {head}… failed: {e}"))
        })?;
    }
    Ok(())
}

/// Watches `table` on an open connection with `tokens`: what the tests use to install triggers.
pub fn watch_table(
    conn: &mut impl Queryable,
    flavour: Flavour,
    table: &TableName,
    tokens: &Tokens,
    request: &WatchRequest,
) -> Result<WatchPlan, Error> {
    let plan = WatchPlan::make(conn, flavour, table, tokens, request)?;
    apply(conn, &plan.schema.name, &plan.statements)?;
    Ok(plan)
}

/// Prints `plan` as a script the `mysql` client runs as it is.
pub fn print_plan(out: &mut dyn Write, plan: &WatchPlan) -> std::io::Result<()> {
    writeln!(out, "-- {}: {}", plan.schema.name, plan.summary())?;
    if plan.statements.is_empty() {
        return writeln!(out, "-- {}: triggers already up to date; nothing to do", plan.schema.name);
    }
    writeln!(out, "DELIMITER ;;")?;
    for statement in &plan.statements {
        writeln!(out, "{statement};;")?;
    }
    writeln!(out, "DELIMITER ;")
}

/// Drops our triggers from `table`, and only ours; returns their names.
pub fn unwatch_table(conn: &mut impl Queryable, table: &TableName) -> Result<Vec<String>, Error> {
    let schema = TableSchema::read(conn, table)?;
    let ours: Vec<String> =
        triggers_on(conn, &schema.name)?.into_iter().filter(|t| t.is_ours()).map(|t| t.name).collect();
    let drops: Vec<String> = ours.iter().map(|name| Trigger::drop_sql(&schema.name, name)).collect();
    apply(conn, &schema.name, &drops)?;
    Ok(ours)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbaudit_record::Op;

    #[test]
    fn mysql_replaces_under_a_write_lock_and_mariadb_in_one_statement() {
        let table = TableName::new("acme", "users");
        let trigger = Trigger { name: "dbaudit_users_au".into(), event: Op::Update, body: "SET @x = 1".into() };
        let mariadb = statements(Flavour::MariaDb, &table, &[], &[&trigger], &["dbaudit_old_au"]);
        assert_eq!(mariadb.len(), 2);
        assert!(mariadb[0].starts_with("CREATE OR REPLACE TRIGGER"));
        assert_eq!(mariadb[1], "DROP TRIGGER IF EXISTS `acme`.`dbaudit_old_au`");
        let mysql = statements(Flavour::MySql, &table, &[], &[&trigger], &[]);
        assert_eq!(mysql[0], "LOCK TABLES `acme`.`users` WRITE");
        assert_eq!(mysql[1], "DROP TRIGGER IF EXISTS `acme`.`dbaudit_users_au`");
        assert!(mysql[2].starts_with("CREATE TRIGGER"));
        assert_eq!(mysql[3], "UNLOCK TABLES");
    }
}
