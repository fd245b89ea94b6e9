//! What the server says about a table: its columns and key (from `information_schema`),
//! and the triggers on it.

use mysql::prelude::Queryable;

use crate::error::{Error, ErrorKind};
use crate::table::TableName;

/// One column as `information_schema.COLUMNS` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnInfo {
    /// The column's name.
    pub name: String,
    /// `DATA_TYPE`, lowercased: `varchar`, `point`, `json`, …
    pub data_type: String,
    /// `COLUMN_TYPE`: the full type, `varchar(20)`, `decimal(10,2) unsigned`, …
    pub column_type: String,
    /// The character set of a text column; None for other types.
    pub charset: Option<String>,
    /// The collation of a text column.
    pub collation: Option<String>,
    /// `YES` or `NO`.
    pub nullable: String,
    /// The default, as the server shows it.
    pub default: Option<String>,
    /// `EXTRA`: `auto_increment`, `VIRTUAL GENERATED`, …
    pub extra: String,
    /// The expression of a generated column.
    pub generation: Option<String>,
}

/// Which key identifies a row in the records' `pk`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RowKey {
    /// The primary key's columns.
    Primary(Vec<String>),
    /// No primary key: the unique key of NOT NULL columns with this name (InnoDB's choice too).
    Unique(String, Vec<String>),
    /// Neither: records carry an empty `pk`.
    None,
}

impl RowKey {
    /// The key's columns, in key order.
    pub fn columns(&self) -> &[String] {
        match self {
            RowKey::Primary(c) | RowKey::Unique(_, c) => c,
            RowKey::None => &[],
        }
    }
}

/// One index entry of `information_schema.STATISTICS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexPart {
    /// The index's name (`PRIMARY` for the primary key).
    pub index: String,
    /// Whether the index is unique.
    pub unique: bool,
    /// Position in the index, from 1.
    pub seq: u32,
    /// The column (None for a functional key part).
    pub column: Option<String>,
    /// Whether the column may be NULL.
    pub nullable: bool,
    /// The prefix length of a prefix index.
    pub sub_part: Option<u64>,
}

/// A table's columns and keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSchema {
    /// The table, spelt as the server spells it.
    pub name: TableName,
    /// Its columns, in table order.
    pub columns: Vec<ColumnInfo>,
    /// Its indexes, by name then position.
    pub indexes: Vec<IndexPart>,
    /// The key that identifies rows.
    pub key: RowKey,
}

type ColumnRow =
    (String, String, String, Option<String>, Option<String>, String, Option<String>, String, Option<String>);

impl TableSchema {
    /// Reads `name`'s schema; a missing table or a view is an [`Error`] saying so.
    pub fn read(conn: &mut impl Queryable, name: &TableName) -> Result<TableSchema, Error> {
        let sql_error =
            |e: mysql::Error| Error::new(ErrorKind::Server, format!("cannot read the schema of {name}: {e}"));
        let found: Vec<(String, String, String)> = conn
            .exec(
                "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                (&name.db, &name.table),
            )
            .map_err(sql_error)?;
        // information_schema may compare names case-insensitively: prefer the exact spelling.
        let Some((db, table, kind)) =
            found.iter().find(|(d, t, _)| *d == name.db && *t == name.table).or(found.first()).cloned()
        else {
            return Err(Error::new(
                ErrorKind::NoTable,
                format!("table {name} does not exist (or this account cannot see it); check the name, as DB.TABLE"),
            ));
        };
        // MariaDB calls a table WITH SYSTEM VERSIONING a `SYSTEM VERSIONED` one; triggers work on it.
        if kind != "BASE TABLE" && kind != "SYSTEM VERSIONED" {
            return Err(Error::new(
                ErrorKind::NoTable,
                format!("{name} is a {kind}, not a table: triggers can only watch tables"),
            ));
        }
        let name = TableName { db, table };
        let rows: Vec<ColumnRow> = conn
            .exec(
                "SELECT COLUMN_NAME, LOWER(DATA_TYPE), COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME, IS_NULLABLE, \
                 COLUMN_DEFAULT, EXTRA, GENERATION_EXPRESSION FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (&name.db, &name.table),
            )
            .map_err(sql_error)?;
        let columns = rows
            .into_iter()
            .map(|(name, data_type, column_type, charset, collation, nullable, default, extra, generation)| {
                ColumnInfo {
                    name,
                    data_type,
                    column_type,
                    charset,
                    collation,
                    nullable,
                    default,
                    extra,
                    generation: generation.filter(|g| !g.is_empty()),
                }
            })
            .collect();
        type IndexRow = (String, i64, u32, Option<String>, String, Option<u64>);
        let rows: Vec<IndexRow> = conn
            .exec(
                "SELECT INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, NULLABLE, SUB_PART \
                 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
                 ORDER BY INDEX_NAME, SEQ_IN_INDEX",
                (&name.db, &name.table),
            )
            .map_err(sql_error)?;
        let indexes: Vec<IndexPart> = rows
            .into_iter()
            .map(|(index, non_unique, seq, column, nullable, sub_part)| IndexPart {
                index,
                unique: non_unique == 0,
                seq,
                column,
                nullable: nullable == "YES",
                sub_part,
            })
            .collect();
        let key = row_key(&indexes);
        Ok(TableSchema { name, columns, indexes, key })
    }
}

/// The primary key, else the first (by name) unique key whose columns are all NOT NULL.
fn row_key(indexes: &[IndexPart]) -> RowKey {
    let columns_of = |index: &str| -> Option<Vec<String>> {
        let parts: Vec<&IndexPart> = indexes.iter().filter(|p| p.index == index).collect();
        parts
            .iter()
            .all(|p| p.unique && !p.nullable && p.column.is_some())
            .then(|| parts.iter().filter_map(|p| p.column.clone()).collect())
    };
    if let Some(columns) = columns_of("PRIMARY").filter(|c| !c.is_empty()) {
        return RowKey::Primary(columns);
    }
    let mut names: Vec<&str> = indexes.iter().map(|p| p.index.as_str()).collect();
    names.dedup();
    names
        .into_iter()
        .find_map(|index| columns_of(index).map(|columns| RowKey::Unique(index.to_owned(), columns)))
        .unwrap_or(RowKey::None)
}

/// A trigger as `information_schema.TRIGGERS` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExistingTrigger {
    /// The trigger's schema.
    pub db: String,
    /// Its name.
    pub name: String,
    /// The table it is on.
    pub table: String,
    /// `BEFORE` or `AFTER`.
    pub timing: String,
    /// `INSERT`, `UPDATE` or `DELETE`.
    pub event: String,
    /// Its position among the table's triggers for the same timing and event.
    pub order: u64,
    /// The body, as written after `FOR EACH ROW`.
    pub body: String,
    /// Its definer (`name@host`).
    pub definer: String,
    /// The `sql_mode` it runs with.
    pub sql_mode: String,
}

impl ExistingTrigger {
    /// Whether dbaudit made it: our name prefix and a call of `dbaudit_log`.
    pub fn is_ours(&self) -> bool {
        self.name.starts_with("dbaudit_") && self.body.contains("dbaudit_log(")
    }
}

const TRIGGER_COLUMNS: &str = "SELECT TRIGGER_SCHEMA, TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, \
     EVENT_MANIPULATION, ACTION_ORDER, ACTION_STATEMENT, DEFINER, SQL_MODE FROM information_schema.TRIGGERS";

type TriggerRow = (String, String, String, String, String, u64, String, String, String);

fn triggers_where(conn: &mut impl Queryable, filter: &str, params: Vec<String>) -> Result<Vec<ExistingTrigger>, Error> {
    let rows: Vec<TriggerRow> = conn
        .exec(
            format!("{TRIGGER_COLUMNS} WHERE {filter} ORDER BY TRIGGER_SCHEMA, EVENT_OBJECT_TABLE, TRIGGER_NAME"),
            params,
        )
        .map_err(|e| Error::new(ErrorKind::Server, format!("cannot read information_schema.TRIGGERS: {e}")))?;
    Ok(rows
        .into_iter()
        .map(|(db, name, table, timing, event, order, body, definer, sql_mode)| ExistingTrigger {
            db,
            name,
            table,
            timing,
            event,
            order,
            body,
            definer,
            sql_mode,
        })
        .collect())
}

/// Every trigger in `db` (trigger names are unique per schema, not per table).
pub fn triggers_in(conn: &mut impl Queryable, db: &str) -> Result<Vec<ExistingTrigger>, Error> {
    triggers_where(conn, "TRIGGER_SCHEMA = ?", vec![db.to_owned()])
}

/// Every trigger on `table`, ours and others'.
pub fn triggers_on(conn: &mut impl Queryable, table: &TableName) -> Result<Vec<ExistingTrigger>, Error> {
    triggers_where(
        conn,
        "EVENT_OBJECT_SCHEMA = ? AND EVENT_OBJECT_TABLE = ?",
        vec![table.db.clone(), table.table.clone()],
    )
}

/// Every trigger of ours on the server, on whichever table.
pub fn our_triggers(conn: &mut impl Queryable) -> Result<Vec<ExistingTrigger>, Error> {
    let found = triggers_where(
        conn,
        "TRIGGER_NAME LIKE 'dbaudit\\_%' AND ACTION_STATEMENT LIKE '%dbaudit\\_log(%'",
        Vec::new(),
    )?;
    Ok(found.into_iter().filter(ExistingTrigger::is_ours).collect())
}

/// The tables that carry at least one of our triggers, sorted.
pub fn watched_tables(conn: &mut impl Queryable) -> Result<Vec<TableName>, Error> {
    let mut tables: Vec<TableName> = our_triggers(conn)?.iter().map(|t| TableName::new(&t.db, &t.table)).collect();
    tables.sort();
    tables.dedup();
    Ok(tables)
}

/// Whether `name` is a table on the server (as this account can see).
pub fn table_exists(conn: &mut impl Queryable, name: &TableName) -> Result<bool, Error> {
    let found: Option<u64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (&name.db, &name.table),
        )
        .map_err(|e| {
            Error::new(ErrorKind::Server, format!("cannot look for {name} in information_schema.TABLES: {e}"))
        })?;
    Ok(found.unwrap_or(0) > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(index: &str, seq: u32, column: &str, unique: bool, nullable: bool) -> IndexPart {
        IndexPart { index: index.into(), unique, seq, column: Some(column.into()), nullable, sub_part: None }
    }

    #[test]
    fn primary_key_first_then_a_unique_not_null_key() {
        let pk = [
            part("PRIMARY", 1, "a", true, false),
            part("PRIMARY", 2, "b", true, false),
            part("u", 1, "c", true, false),
        ];
        assert_eq!(row_key(&pk), RowKey::Primary(vec!["a".into(), "b".into()]));
        let unique = [part("n", 1, "x", true, true), part("u", 1, "c", true, false), part("v", 1, "d", false, false)];
        assert_eq!(row_key(&unique), RowKey::Unique("u".into(), vec!["c".into()]));
        assert_eq!(row_key(&[part("v", 1, "d", false, false)]), RowKey::None);
    }
}
