//! The arguments of a `dbaudit_log` call, checked against the protocol
//! ([`dbaudit_record::protocol`], both its versions) and turned into a record to write.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use dbaudit_record::protocol::{self, Header, Side, FIXED_ARGS, HEADER_ARGS};
use dbaudit_record::{names, ClaimedRef, ColumnRef, ColumnSpec, DriftRef, EncodedEvent, Key, Op, RowShape};

/// One argument as mysqld passed it: its bytes (None for NULL) and its alias.
#[derive(Clone, Copy, Debug)]
pub struct Arg<'a> {
    /// The value's bytes; None for SQL NULL.
    pub value: Option<&'a [u8]>,
    /// The argument's name: the alias after `AS`, else the expression's text.
    pub name: &'a [u8],
}

impl<'a> Arg<'a> {
    /// An argument with a value and a name, as tests and benches build them.
    pub fn new(value: Option<&'a [u8]>, name: &'a [u8]) -> Arg<'a> {
        Arg { value, name }
    }
}

/// A call whose token was right, ready to become a row record.
#[derive(Debug)]
pub(crate) struct RowCall<'a> {
    pub db: &'a [u8],
    pub table: &'a [u8],
    pub op: Op,
    pub user: &'a [u8],
    pub conn: u64,
    pub pk: Vec<ColumnRef<'a>>,
    pub changed: Option<Vec<&'a [u8]>>,
    pub old: Option<Vec<ColumnRef<'a>>>,
    pub new: Option<Vec<ColumnRef<'a>>>,
}

/// A call from one of our triggers, read.
#[derive(Debug)]
pub(crate) enum Call<'a> {
    /// A row change with its values.
    Row(RowCall<'a>),
    /// A row change its trigger could not record: the table no longer matches it.
    Drift(DriftRef<'a>),
}

/// What a trigger's calls say alike on every row — the table, the op, the column lists —
/// read from a protocol-2 header (once per trigger: the UDF keeps it) or from protocol 1's
/// fixed arguments (on every row).
#[derive(Debug)]
pub(crate) struct Site {
    pub db: Vec<u8>,
    pub table: Vec<u8>,
    kind: SiteKind,
    /// What the first call read with this site (protocol 2, a row) said of each of its value
    /// arguments, for later calls that name theirs alike; None if it broke the protocol.
    known: Option<KnownCall>,
    /// When this site was made from a call that named its columns otherwise than the one
    /// before ([`Site::learn_again`]); None for a header's first site.
    learnt_again_at: Option<Instant>,
}

/// How long a header's site, once learnt again, is kept before a call that names its columns
/// otherwise may make it anew: a table altered and its triggers made again are taken up at
/// once, however often that happens, while two triggers passing one header with other
/// columns (old and new bodies for a moment, as connections reopen the table) cannot swap
/// it on every row.
pub(crate) const LEARN_AGAIN_AFTER: Duration = Duration::from_millis(100);

/// The value arguments of a row call as a site's first call named them, and the record's
/// shape that follows from those names: a later call whose value arguments bear the same
/// names, in the same order, makes the record that shape makes with its values.
#[derive(Debug)]
struct KnownCall {
    /// The arguments' names (aliases).
    names: Vec<KnownName>,
    shape: RowShape,
}

/// An argument's name as a later call's is compared with it: its length and [`name_words`],
/// which hold every byte of a name of up to 16; a longer one is compared whole as well.
#[derive(Debug)]
struct KnownName {
    len: usize,
    words: (u64, u64),
    whole: Vec<u8>,
}

impl KnownName {
    #[inline(always)]
    fn is(&self, name: &[u8]) -> bool {
        name.len() == self.len && name_words(name) == self.words && (self.len <= 16 || name == self.whole)
    }
}

/// Two words that hold every byte of a name of up to 16 bytes, loaded without a loop: the
/// first and the last eight (which may overlap), four, or each byte.
#[inline(always)]
fn name_words(name: &[u8]) -> (u64, u64) {
    let n = name.len();
    let eight = |at: usize| u64::from_le_bytes(name[at..at + 8].try_into().expect("eight bytes"));
    let four = |at: usize| u64::from(u32::from_le_bytes(name[at..at + 4].try_into().expect("four bytes")));
    match n {
        8.. => (eight(0), eight(n - 8)),
        4..=7 => (four(0), four(n - 4)),
        1..=3 => (u64::from(name[0]) | u64::from(name[n / 2]) << 8 | u64::from(name[n - 1]) << 16, 0),
        0 => (0, 0),
    }
}

#[derive(Clone, Debug)]
enum SiteKind {
    Row { op: Op, pk: Vec<Vec<u8>>, secrets: Vec<Vec<u8>> },
    Drift { row_op: Op },
}

impl Site {
    /// Reads the constant part of a call: its db and table, and either a row op with the
    /// key and secret columns or, for a drift call, the row op it fired on.
    fn read(
        db: &[u8],
        table: &[u8],
        op: &[u8],
        pk_cols: &[u8],
        secret_cols: &[u8],
        split: fn(&[u8]) -> Vec<Cow<'_, [u8]>>,
    ) -> Result<Site, String> {
        let kind = if protocol::is_drift(op) {
            let row_op = Op::parse(pk_cols).ok_or_else(|| {
                format!("row_op {:?} is not insert, update or delete", String::from_utf8_lossy(pk_cols))
            })?;
            SiteKind::Drift { row_op }
        } else {
            let op = Op::parse(op).ok_or_else(|| {
                format!("op {:?} is not insert, update, delete or drift", String::from_utf8_lossy(op))
            })?;
            let list = |l: &[u8]| split(l).into_iter().map(Cow::into_owned).collect();
            SiteKind::Row { op, pk: list(pk_cols), secrets: list(secret_cols) }
        };
        Ok(Site { db: db.to_vec(), table: table.to_vec(), kind, known: None, learnt_again_at: None })
    }

    /// The site of a protocol-2 header, with the shape of the records of calls named as
    /// `args` (a call that carries it) is.
    pub(crate) fn of_header(header: &Header, args: &[Arg]) -> Result<Site, String> {
        let site =
            Site::read(&header.db, &header.table, &header.op, &header.pk_cols, &header.secret_cols, protocol::list)?;
        Ok(site.learn(args))
    }

    /// This site as a call (`args`, which [`parse_v2`] read without error) whose value
    /// arguments are named otherwise than its first call's would have it read, for the calls
    /// to come; None within [`LEARN_AGAIN_AFTER`] of this site's own learning again.
    pub(crate) fn learn_again(&self, args: &[Arg]) -> Option<Site> {
        let recent = self.learnt_again_at.is_some_and(|at| at.elapsed() < LEARN_AGAIN_AFTER);
        if recent || !matches!(self.kind, SiteKind::Row { .. }) {
            return None;
        }
        let site = Site {
            db: self.db.clone(),
            table: self.table.clone(),
            kind: self.kind.clone(),
            known: None,
            learnt_again_at: Some(Instant::now()),
        };
        Some(site.learn(args))
    }

    /// This site with the shape of `args`, a call that carries it.
    fn learn(self, args: &[Arg]) -> Site {
        let mut site = self;
        site.known = site.known_call(args);
        site
    }

    /// What `args`, a row call of this site, say of each value argument (its side, its
    /// column, whether it is secret, which are the key and which `changed` compares), as
    /// [`parse`] reads them; None if they break the protocol, which [`parse`] then says.
    fn known_call(&self, args: &[Arg]) -> Option<KnownCall> {
        let SiteKind::Row { op, pk: pk_names, secrets } = &self.kind else { return None };
        let values = args.get(HEADER_ARGS..)?;
        let [old, new] = sides(*op, secrets, values, HEADER_ARGS).ok()?;
        let changed: Vec<(usize, usize, &[u8])> = match (&old, &new) {
            (Some(old), Some(new)) => new
                .iter()
                .enumerate()
                .filter_map(|(i, n)| counterpart(old, i, n.name, |o| o.name).map(|o| (n.value, o.value, n.name)))
                .collect(),
            _ => Vec::new(),
        };
        let keyed = if op.has_new() { new.as_deref() } else { old.as_deref() }.unwrap_or_default();
        let pk: Vec<ColumnSpec> = key_columns(pk_names, keyed, |c| c.name).copied().collect();
        let shape = RowShape::new(&self.db, &self.table, *op, &pk, &changed, old.as_deref(), new.as_deref());
        let names = values
            .iter()
            .map(|a| KnownName { len: a.name.len(), words: name_words(a.name), whole: a.name.to_vec() })
            .collect();
        Some(KnownCall { names, shape })
    }

    /// The record of a protocol-2 row call whose value arguments are named exactly as those
    /// of the first call read with this site, made from what that call said of them; None
    /// for any other call (or one whose user or conn is missing or wrong), which is then read
    /// as any call is ([`parse_v2`]). Names are compared on every call: one header may be
    /// passed by triggers with other columns (a table altered, its triggers made again).
    pub(crate) fn encode_known(&self, key: &Key, args: &[Arg]) -> Option<EncodedEvent> {
        let known = self.known.as_ref()?;
        let values = args.get(HEADER_ARGS..)?;
        if values.len() != known.names.len() {
            return None;
        }
        // The names checked and the values measured in one pass.
        let mut values_len = 0;
        for (arg, kept) in values.iter().zip(&known.names) {
            if !kept.is(arg.name) {
                return None;
            }
            values_len += arg.value.map_or(0, <[u8]>::len);
        }
        let user = args[protocol::HEADER_USER].value?;
        let conn = conn_id(args[protocol::HEADER_CONN].value?)?;
        Some(known.shape.encode(key, user, conn, values_len, |i| values[i].value))
    }
}

/// A connection id as `CONNECTION_ID()` passes it, in decimal: what `str::parse::<u64>`
/// accepts (digits, after an optional `+`, that fit), read without a UTF-8 check first.
fn conn_id(text: &[u8]) -> Option<u64> {
    let digits = text.strip_prefix(b"+").unwrap_or(text);
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// Whether the column `name` is one of `secrets` (ASCII case-insensitive, as SQL names are).
fn is_secret(secrets: &[Vec<u8>], name: &[u8]) -> bool {
    secrets.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// The key's columns among `keyed`, in the key's order: for each key column, the first
/// column named so (ASCII case-insensitive). One the trigger did not pass cannot be shown.
fn key_columns<'c, T>(
    pk_names: &'c [Vec<u8>],
    keyed: &'c [T],
    name_of: impl Fn(&T) -> &[u8] + 'c,
) -> impl Iterator<Item = &'c T> + 'c {
    pk_names.iter().filter_map(move |pk| keyed.iter().find(|c| name_of(c).eq_ignore_ascii_case(pk)))
}

/// The old column the new column at `place`, named `name`, is compared with: triggers list
/// old and new in the same order, so the same place first, else the first named alike.
fn counterpart<'o, T>(old: &'o [T], place: usize, name: &[u8], name_of: impl Fn(&T) -> &[u8]) -> Option<&'o T> {
    match old.get(place) {
        Some(o) if name_of(o) == name => Some(o),
        _ => old.iter().find(|o| name_of(o) == name),
    }
}

/// Whether `given` is `token`. Compared in constant time, so a caller cannot learn the
/// token a byte at a time from how long a refusal takes.
pub(crate) fn same_secret(given: &[u8], token: &[u8]) -> bool {
    if given.len() != token.len() {
        return false;
    }
    // Eight bytes a step: a header is compared on every row.
    let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().expect("eight bytes"));
    let (given_words, token_words) = (given.chunks_exact(8), token.chunks_exact(8));
    let tail = given_words.remainder().iter().zip(token_words.remainder()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    given_words.zip(token_words).fold(u64::from(tail), |acc, (a, b)| acc | (word(a) ^ word(b))) == 0
}

/// What a forged call claimed, for the `forged` record: protocol 1's fixed arguments, or,
/// when the first argument is a header, what the header names (if it can be read at all)
/// and the user and conn after it.
pub(crate) fn claimed<'a>(args: &'a [Arg<'a>], header: Option<&'a Header<'a>>) -> ClaimedRef<'a> {
    let at = |i: usize| args.get(i).and_then(|a| a.value);
    if args.first().and_then(|a| a.value).is_some_and(protocol::is_header) {
        return ClaimedRef {
            db: header.map(|h| &*h.db),
            table: header.map(|h| &*h.table),
            op: header.map(|h| &*h.op),
            user: at(protocol::HEADER_USER),
            conn: at(protocol::HEADER_CONN),
        };
    }
    ClaimedRef {
        db: at(protocol::DB),
        table: at(protocol::TABLE),
        op: at(protocol::OP),
        user: at(protocol::USER),
        conn: at(protocol::CONN),
    }
}

/// Reads a protocol-1 call, which must carry the token of the table it names. An error
/// says what is wrong with the protocol, which means the trigger was not generated by
/// `dbaudit watch` (or was edited).
pub(crate) fn parse_v1<'a>(args: &'a [Arg<'a>], site: &'a mut Option<Site>) -> Result<Call<'a>, String> {
    if args.len() < FIXED_ARGS {
        return Err(format!("dbaudit_log needs at least {FIXED_ARGS} arguments, got {}", args.len()));
    }
    let required = |i: usize, what: &str| args[i].value.ok_or_else(|| format!("argument {} ({what}) is NULL", i + 1));
    let (db, table, op) =
        (required(protocol::DB, "db")?, required(protocol::TABLE, "tbl")?, required(protocol::OP, "op")?);
    let drift = protocol::is_drift(op);
    let row_op =
        if drift { required(protocol::ROW_OP, "row_op")? } else { args[protocol::PK_COLS].value.unwrap_or_default() };
    let secret_cols = if drift { b"" } else { args[protocol::SECRET_COLS].value.unwrap_or_default() };
    let site = site.insert(Site::read(db, table, op, row_op, secret_cols, names::split)?);
    if drift && args.len() != FIXED_ARGS {
        return Err(format!("a drift call has exactly {FIXED_ARGS} arguments, got {}", args.len()));
    }
    let error = args[protocol::ERROR].value.unwrap_or_default();
    parse(site, args, [protocol::USER, protocol::CONN], FIXED_ARGS, error)
}

/// Reads a protocol-2 call of the trigger whose header gave `site`.
pub(crate) fn parse_v2<'a>(site: &'a Site, args: &'a [Arg<'a>]) -> Result<Call<'a>, String> {
    if args.len() < HEADER_ARGS {
        return Err(format!("dbaudit_log needs at least {HEADER_ARGS} arguments, got {}", args.len()));
    }
    if matches!(site.kind, SiteKind::Drift { .. }) && args.len() != HEADER_ARGS + 1 {
        return Err(format!("a drift call has exactly {} arguments, got {}", HEADER_ARGS + 1, args.len()));
    }
    let error = args.get(protocol::HEADER_ERROR).and_then(|a| a.value).unwrap_or_default();
    parse(site, args, [protocol::HEADER_USER, protocol::HEADER_CONN], HEADER_ARGS, error)
}

/// The rest of a call once its site is known: the user and conn at `at`, then the values
/// from `first_value` on (or, in a drift call, the server's `error`).
fn parse<'a>(
    site: &'a Site,
    args: &'a [Arg<'a>],
    at: [usize; 2],
    first_value: usize,
    error: &'a [u8],
) -> Result<Call<'a>, String> {
    let required = |i: usize, what: &str| args[i].value.ok_or_else(|| format!("argument {} ({what}) is NULL", i + 1));
    let user = required(at[0], "user")?;
    let conn_text = required(at[1], "conn")?;
    let conn = conn_id(conn_text)
        .ok_or_else(|| format!("conn {:?} is not a connection id", String::from_utf8_lossy(conn_text)))?;
    let (db, table) = (&site.db[..], &site.table[..]);
    let (op, pk_names, secret_names) = match &site.kind {
        SiteKind::Drift { row_op } => {
            return Ok(Call::Drift(DriftRef { db, table, row_op: *row_op, user, conn, error }));
        }
        SiteKind::Row { op, pk, secrets } => (*op, pk, secrets),
    };

    let values = &args[first_value..];
    let columns = |side: Option<Vec<ColumnSpec<'a>>>| -> Option<Vec<ColumnRef<'a>>> {
        let column = |c: &ColumnSpec<'a>| ColumnRef { name: c.name, value: values[c.value].value, secret: c.secret };
        side.map(|s| s.iter().map(column).collect())
    };
    let [old, new] = sides(op, secret_names, values, first_value)?.map(columns);

    // Only an update carries both sides.
    let changed = match (&old, &new) {
        (Some(old), Some(new)) => Some(changed_columns(old, new)),
        _ => None,
    };
    let keyed = if op.has_new() { new.as_deref() } else { old.as_deref() }.unwrap_or_default();
    // A key column the trigger did not pass cannot be shown; the row is still recorded.
    let pk = key_columns(pk_names, keyed, |c| c.name).copied().collect();
    Ok(Call::Row(RowCall { db, table, op, user, conn, pk, changed, old, new }))
}

/// The value arguments `values` (a call's, from its first value, argument `first_value`, on)
/// sorted into the sides `op` carries, old then new: each its place among `values`, its
/// column and whether that is one of `secrets`. An error says which argument breaks the
/// protocol.
fn sides<'a>(
    op: Op,
    secrets: &[Vec<u8>],
    values: &'a [Arg<'a>],
    first_value: usize,
) -> Result<[Option<Vec<ColumnSpec<'a>>>; 2], String> {
    let mut sides = [op.has_old(), op.has_new()].map(|has| has.then(|| Vec::with_capacity(values.len())));
    for (i, arg) in values.iter().enumerate() {
        let number = first_value + i + 1;
        let Some((side, name)) = Side::split_alias(arg.name) else {
            return Err(format!(
                "argument {number} is named {:?}; values must be aliased {}<column> or {}<column>",
                String::from_utf8_lossy(arg.name),
                Side::Old.prefix(),
                Side::New.prefix()
            ));
        };
        let Some(side) = sides[usize::from(side == Side::New)].as_mut() else {
            return Err(format!(
                "argument {number} ({}) does not belong in an {op} record",
                String::from_utf8_lossy(arg.name)
            ));
        };
        side.push(ColumnSpec { value: i, name, secret: is_secret(secrets, name) });
    }
    Ok(sides)
}

/// Columns of `new` whose bytes differ from the same column in `old`.
fn changed_columns<'a>(old: &[ColumnRef<'a>], new: &[ColumnRef<'a>]) -> Vec<&'a [u8]> {
    new.iter()
        .enumerate()
        .filter(|(i, n)| counterpart(old, *i, n.name, |o| o.name).is_some_and(|o| o.value != n.value))
        .map(|(_, n)| n.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(call: Result<Call<'a>, String>) -> Result<RowCall<'a>, String> {
        match call? {
            Call::Row(row) => Ok(row),
            Call::Drift(_) => Err("a drift call".into()),
        }
    }

    fn fixed<'a>(op: &'a str, pk: &'a str, secret: &'a str) -> Vec<Arg<'a>> {
        [Some("t"), Some("acme"), Some("users"), Some(op), Some("u@localhost"), Some("17"), Some(pk), Some(secret)]
            .into_iter()
            .map(|v| Arg::new(v.map(str::as_bytes), b"x"))
            .collect()
    }

    fn values<'a>(args: &mut Vec<Arg<'a>>, values: &[(&'a str, Option<&'a str>)]) {
        args.extend(values.iter().map(|(name, value)| Arg::new(value.map(str::as_bytes), name.as_bytes())));
    }

    const UPDATE: [(&str, Option<&str>); 8] = [
        ("old.id", Some("7")),
        ("old.login", Some("x")),
        ("old.password", Some("a")),
        ("old.note", None),
        ("new.id", Some("7")),
        ("new.login", Some("x")),
        ("new.password", Some("b")),
        ("new.note", Some("")),
    ];

    #[test]
    fn update_lists_only_columns_whose_bytes_differ() {
        let mut args = fixed("update", "id", "password");
        values(&mut args, &UPDATE);
        let mut site = None;
        let call = row(parse_v1(&args, &mut site)).unwrap();
        assert_eq!(call.changed.unwrap(), vec![&b"password"[..], b"note"]);
        assert_eq!(call.pk.len(), 1);
        assert_eq!(call.pk[0].value, Some(&b"7"[..]));
        assert!(call.new.unwrap()[2].secret);
    }

    #[test]
    fn a_header_call_reads_as_the_same_call_in_protocol_1() {
        let header = protocol::header("t", "acme", "users", Op::Update, &["id"], &["password"]);
        let mut args = vec![
            Arg::new(Some(header.as_bytes()), b"x"),
            Arg::new(Some(b"u@localhost"), b"USER()"),
            Arg::new(Some(b"17"), b"CONNECTION_ID()"),
        ];
        values(&mut args, &UPDATE);
        let site = Site::of_header(&protocol::read_header(header.as_bytes()).unwrap(), &args).unwrap();
        let two = row(parse_v2(&site, &args)).unwrap();

        let mut v1 = fixed("update", "id", "password");
        values(&mut v1, &UPDATE);
        let mut v1_site = None;
        let one = row(parse_v1(&v1, &mut v1_site)).unwrap();
        assert_eq!(format!("{two:?}"), format!("{one:?}"));

        args[protocol::HEADER_CONN].value = Some(b"x");
        assert!(parse_v2(&site, &args).unwrap_err().contains("connection id"));
        assert!(parse_v2(&site, &args[..2]).unwrap_err().contains("at least 3"));
    }

    #[test]
    fn alias_without_old_or_new_is_refused() {
        let mut args = fixed("insert", "", "");
        args.push(Arg::new(Some(b"1"), b"id"));
        assert!(row(parse_v1(&args, &mut None)).unwrap_err().contains("old.<column> or new.<column>"));
    }

    #[test]
    fn old_values_in_an_insert_are_refused() {
        let mut args = fixed("insert", "", "");
        args.push(Arg::new(Some(b"1"), b"old.id"));
        assert!(row(parse_v1(&args, &mut None)).is_err());
    }

    #[test]
    fn unknown_op_and_bad_conn_are_refused() {
        assert!(row(parse_v1(&fixed("truncate", "", ""), &mut None)).is_err());
        let mut args = fixed("insert", "", "");
        args[5].value = Some(b"17; DROP");
        assert!(row(parse_v1(&args, &mut None)).is_err());
        let header = protocol::header::<&str>("t", "d", "u", Op::Insert, &[], &[]).replace("insert", "truncate");
        assert!(Site::of_header(&protocol::read_header(header.as_bytes()).unwrap(), &[])
            .unwrap_err()
            .contains("truncate"));
    }

    #[test]
    fn drift_call_carries_the_row_op_and_the_error_and_nothing_more() {
        let args = fixed("drift", "update", "1054: Unknown column 'b' in 'OLD'");
        let mut site = None;
        let Ok(Call::Drift(drift)) = parse_v1(&args, &mut site) else { panic!("expected a drift call") };
        assert_eq!(
            (drift.row_op, drift.conn, drift.error),
            (Op::Update, 17, &b"1054: Unknown column 'b' in 'OLD'"[..])
        );
        assert!(parse_v1(&fixed("drift", "truncate", ""), &mut None).unwrap_err().contains("row_op"));
        let mut longer = fixed("drift", "insert", "");
        longer.push(Arg::new(Some(b"1"), b"new.id"));
        assert!(parse_v1(&longer, &mut None).unwrap_err().contains("exactly 8"));

        let header = protocol::drift_header("t", "acme", "users", Op::Delete);
        let site = Site::of_header(&protocol::read_header(header.as_bytes()).unwrap(), &[]).unwrap();
        let mut args: Vec<Arg> = [&header[..], "u@localhost", "17", "1054: Unknown column"]
            .iter()
            .map(|v| Arg::new(Some(v.as_bytes()), b"x"))
            .collect();
        let Ok(Call::Drift(drift)) = parse_v2(&site, &args) else { panic!("expected a drift call") };
        assert_eq!((drift.row_op, drift.table, drift.error), (Op::Delete, &b"users"[..], &b"1054: Unknown column"[..]));
        args.push(Arg::new(Some(b"1"), b"old.id"));
        assert!(parse_v2(&site, &args).unwrap_err().contains("exactly 4"));
    }

    #[test]
    fn a_kept_name_is_only_the_same_bytes() {
        for len in 0..40usize {
            let name: Vec<u8> = (0..len).map(|i| b'a' + (i * 7 % 26) as u8).collect();
            let kept = KnownName { len, words: name_words(&name), whole: name.clone() };
            assert!(kept.is(&name));
            for at in 0..len {
                let mut other = name.clone();
                other[at] ^= 0x20;
                assert!(!kept.is(&other), "{len} {at}");
            }
            let mut longer = name.clone();
            longer.push(b'a');
            assert!(!kept.is(&longer) && (len == 0 || !kept.is(&name[..len - 1])));
        }
    }

    #[test]
    fn conn_ids_are_read_as_str_parse_reads_them() {
        let mut texts: Vec<Vec<u8>> = [
            "",
            "+",
            "-",
            "0",
            "17",
            "+17",
            "-17",
            "++1",
            "1+",
            " 1",
            "1 ",
            "0017",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999",
            "+18446744073709551615",
            "1a",
            "٣",
            "1\u{0}",
        ]
        .iter()
        .map(|t| t.as_bytes().to_vec())
        .collect();
        texts.push(vec![b'1', 0xff]);
        texts.push(vec![b'/']);
        texts.push(vec![b':']);
        for text in &texts {
            let expected = std::str::from_utf8(text).ok().and_then(|s| s.parse::<u64>().ok());
            assert_eq!(conn_id(text), expected, "{:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn secrets_must_match_exactly() {
        let long = "dbaudit/2,0123456789abcdef0123456789abcdef,acme,users,insert,id,";
        assert!(same_secret(long.as_bytes(), long.as_bytes()) && same_secret(b"", b""));
        for i in 0..long.len() {
            let mut other = long.as_bytes().to_vec();
            other[i] ^= 1;
            assert!(!same_secret(&other, long.as_bytes()), "byte {i}");
        }
        assert!(!same_secret(b"t", b"tt") && !same_secret(b"", b"a"));
    }
}
