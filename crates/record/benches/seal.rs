//! How long building and sealing one 10-column record takes, against copying a line of
//! the same length (the floor any writer pays) and against building it unsealed.
//!
//! `cargo bench -p dbaudit-record --bench seal` prints a table; nothing here is asserted.

use std::hint::black_box;
use std::time::{Duration, Instant};

use dbaudit_record::{encode_body, Chain, ColumnRef, Epoch, EventRef, Key, Op, RowRef, Timestamp};

const ROUNDS: usize = 5;

/// Records per round: 1,000,000, or `DBAUDIT_BENCH_RECORDS` (small, for callgrind).
fn records() -> u32 {
    std::env::var("DBAUDIT_BENCH_RECORDS").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn measure(mut one: impl FnMut(u32)) -> Duration {
    let records = records();
    median(
        (0..ROUNDS)
            .map(|_| {
                let start = Instant::now();
                for i in 0..records {
                    one(i);
                }
                start.elapsed() / records
            })
            .collect(),
    )
}

fn column<'a>(name: &'a str, value: &'a str) -> ColumnRef<'a> {
    ColumnRef { name: name.as_bytes(), value: Some(value.as_bytes()), secret: name == "password" }
}

fn main() {
    let key = Key::from_bytes([7; 32]);
    let names: Vec<String> =
        ["id", "login", "password", "email", "first_name", "last_name", "role", "created", "updated", "note"]
            .iter()
            .map(|n| n.to_string())
            .collect();
    let old_values = [
        "7",
        "xavier",
        "zZDDIZ0NOlPzw",
        "x@example.com",
        "Xavier",
        "Mertens",
        "admin",
        "2026-11-26 08:31:24",
        "2026-11-26 08:31:24",
        "a note with \"quotes\"",
    ];
    let new_values = [
        "7",
        "xavier",
        "RjdqndSkxdjeX",
        "x@example.com",
        "Xavier",
        "Mertens",
        "admin",
        "2026-11-26 08:31:24",
        "2026-11-26 09:00:00",
        "a note with \"quotes\"",
    ];
    let old: Vec<ColumnRef> = names.iter().zip(&old_values).map(|(n, v)| column(n, v)).collect();
    let new: Vec<ColumnRef> = names.iter().zip(&new_values).map(|(n, v)| column(n, v)).collect();
    let changed: Vec<&[u8]> = vec![b"password", b"updated"];
    let pk = [new[0]];
    let event = EventRef::Row(RowRef {
        db: b"acme",
        table: b"users",
        op: Op::Update,
        user: b"admin@localhost",
        conn: 17,
        pk: &pk,
        changed: Some(&changed),
        old: Some(&old),
        new: Some(&new),
    });
    let mut chain = Chain::new(key.clone(), Epoch(0x9f2c_41d0_7b3e_5a18));
    let mut line = Vec::with_capacity(4096);
    let start = chain.append_next(&mut line, Timestamp::now(), &EventRef::Start { prev: None });
    chain.advance(start);
    line.clear();
    chain.append_next(&mut line, Timestamp::now(), &event);
    let sample = line.clone();

    let copy = measure(|_| {
        line.clear();
        line.extend_from_slice(black_box(&sample));
        black_box(&line);
    });
    let body = measure(|i| {
        line.clear();
        encode_body(&mut line, &key, chain.epoch(), u64::from(i), Timestamp(u64::from(i)), black_box(&event));
        black_box(&line);
    });
    let sealed = measure(|i| {
        line.clear();
        let point = chain.append_next(&mut line, Timestamp(u64::from(i)), black_box(&event));
        chain.advance(point);
        black_box(&line);
    });

    println!("record: 10 columns, update with old and new, one secret column; {} bytes per line", sample.len());
    println!("{:<34} {:>12} {:>10}", "what (median of 5 rounds)", "ns/record", "× copy");
    for (what, d) in [
        ("copy the finished line", copy),
        ("encode the body (JSON, mask)", body),
        ("encode + seal (mac, chain)", sealed),
    ] {
        println!(
            "{:<34} {:>12.1} {:>10.2}",
            what,
            d.as_nanos() as f64,
            d.as_nanos() as f64 / copy.as_nanos().max(1) as f64
        );
    }
}
