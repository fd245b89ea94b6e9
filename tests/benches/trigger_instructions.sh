#!/usr/bin/env bash
# What a watched row costs mariadbd, in instructions: the in-server loop of
# trigger_overhead.rs (ROWS single-row INSERTs, UPDATEs, then DELETEs, one transaction, a
# 10-column utf8mb4 table) with mariadbd run under `valgrind --tool=callgrind`, counters
# zeroed before and dumped after each statement, counted in the connection's thread. Four tables in the same server and run:
#   (a) no trigger, (b) triggers that only CONCAT_WS the same columns,
#   (c) dbaudit's triggers as `dbaudit watch` makes them (one secret column),
#   (d) (c)'s call alone, without the block and handler that record a schema drift.
# Instruction counts do not depend on what else the machine is doing, so this is the
# benchmark to trust on a shared machine; trigger_overhead and sysbench give the times.
# The last column is the part spent inside libdbaudit_udf.so itself.
#
# Usage: bash tests/benches/trigger_instructions.sh   (ROWS=2000 by default; ~2 minutes)
# Needs: valgrind, mariadb-server (mariadbd, mariadb-install-db, mariadb), cargo.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=${ROWS:-2000}
. tests/benches/callgrind_server.sh
callgrind_server trigger_instructions "" "" "--innodb-buffer-pool-size=64M"

sql -e "CREATE DATABASE bench"
columns="login VARCHAR(40), password VARCHAR(40), email VARCHAR(40), first_name VARCHAR(40), last_name VARCHAR(40),
         role VARCHAR(40), team VARCHAR(40), phone VARCHAR(40), note VARCHAR(40)"
for t in a b c d; do
    sql bench -e "CREATE TABLE users_$t (id INT PRIMARY KEY, $columns)"
    sql --delimiter=// bench -e "CREATE PROCEDURE fill_$t(n INT) BEGIN DECLARE i INT DEFAULT 0; START TRANSACTION;
        WHILE i < n DO INSERT INTO users_$t VALUES (i, CONCAT('login', i), 'zZDDIZ0NOlPzw', CONCAT('user', i, '@example.com'),
        'Xavier', 'Mertens', 'admin', 'security', '+32 2 555 0101', 'a note'); SET i = i + 1; END WHILE; COMMIT; END"
    sql --delimiter=// bench -e "CREATE PROCEDURE touch_$t(n INT) BEGIN DECLARE i INT DEFAULT 0; START TRANSACTION;
        WHILE i < n DO UPDATE users_$t SET password = CONCAT('RjdqndSkxdjeX', i) WHERE id = i; SET i = i + 1; END WHILE; COMMIT; END"
    sql --delimiter=// bench -e "CREATE PROCEDURE wipe_$t(n INT) BEGIN DECLARE i INT DEFAULT 0; START TRANSACTION;
        WHILE i < n DO DELETE FROM users_$t WHERE id = i; SET i = i + 1; END WHILE; COMMIT; END"
done
new="NEW.id, NEW.login, NEW.password, NEW.email, NEW.first_name, NEW.last_name, NEW.role, NEW.team, NEW.phone, NEW.note"
old=${new//NEW./OLD.}
sql bench -e "CREATE TRIGGER b_ai AFTER INSERT ON users_b FOR EACH ROW SET @concat = CONCAT_WS(',', $new);
    CREATE TRIGGER b_au AFTER UPDATE ON users_b FOR EACH ROW SET @concat = CONCAT_WS(',', $old, $new);
    CREATE TRIGGER b_ad AFTER DELETE ON users_b FOR EACH ROW SET @concat = CONCAT_WS(',', $old)"
dbaudit=("$target/release/dbaudit" --defaults-file /dev/null --socket "$D/sock" --user root --key-file "$D/key" --watch-list "$D/watch.json")
"${dbaudit[@]}" watch bench.users_c bench.users_d --secret password >/dev/null
# (d): each of users_d's triggers re-made with the bare call that its body wraps.
sql -N bench -e "SELECT TRIGGER_NAME, EVENT_MANIPULATION FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_TABLE = 'users_d'" |
while read -r name event; do
    body=$(sql -N --raw bench -e "SELECT ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_NAME = '$name'")
    call=$(printf '%s' "$body" | grep -o 'IF dbaudit_log(.*END IF; END$' | sed 's/; END$//')
    [ -n "$call" ] || { echo "trigger_instructions: no row call in $name" >&2; exit 1; }
    sql bench -e "DROP TRIGGER $name"
    sql --delimiter=// bench -e "CREATE TRIGGER $name AFTER $event ON users_d FOR EACH ROW $call"
done

# Instructions per row of one statement in the thread that ran it (InnoDB's background
# threads, purge above all, are left out: their work lands wherever it happens to run), in
# all of mariadbd and in libdbaudit_udf.so alone.
measure() {
    callgrind_control -z "$VPID" >/dev/null 2>&1
    sql bench -e "$1"
    callgrind_control -d "$VPID" >/dev/null 2>&1
    local newest dump best=0 best_udf=0
    newest=$(ls -t "$D"/out/ | sed -n 1p)
    for dump in "$D"/out/"${newest%-*}"-*; do
        read -r total udf < <(callgrind_annotate --threshold=100 "$dump" 2>/dev/null | awk '
            /PROGRAM TOTALS/ { gsub(",", "", $1); total = $1 }
            /libdbaudit_udf\.so\]$/ { gsub(",", "", $1); udf += $1 }
            END { printf "%d %d\n", total, udf }')
        if [ "$total" -gt "$best" ]; then best=$total best_udf=$udf; fi
    done
    echo "$((best / ROWS)) $((best_udf / ROWS))"
}
for t in a b c d; do sql bench -e "CALL fill_$t(200); CALL touch_$t(200); CALL wipe_$t(200)"; done   # warm up
declare -A per_row udf_part
for op in insert update delete; do
    case $op in insert) proc=fill ;; update) proc=touch ;; delete) proc=wipe ;; esac
    for t in a b c d; do
        read -r total udf < <(measure "CALL ${proc}_$t($ROWS)")
        per_row[$op$t]=$total
        udf_part[$op$t]=$udf
    done
done
records=$(wc -l < "$D/audit.log")

echo "mariadbd instructions per row, $ROWS rows per statement (callgrind; MariaDB $("$MARIADBD" --version | awk '{print $3}'))"
echo
echo "| | (a) no trigger | (b) CONCAT_WS | (c) dbaudit | (d) (c) without handler | c − b | c − d (handler) | in libdbaudit_udf.so |"
echo "|---|---|---|---|---|---|---|---|"
for op in insert update delete; do
    a=${per_row[${op}a]} b=${per_row[${op}b]} c=${per_row[${op}c]} d=${per_row[${op}d]}
    echo "| $op | $a | $b | $c | $d | $((c - b)) | $((c - d)) | ${udf_part[${op}c]} |"
done
echo
echo "records in the audit log: $records (expected $(( 2 * 3 * (ROWS + 200) + 1 )) or more: rows of (c) and (d) and a start record)"
