#!/usr/bin/env bash
# What a watched row costs mariadbd under sysbench, in instructions and cache misses: sysbench
# (one table of 10,000 rows, one thread) against a mariadbd run under
# `valgrind --tool=callgrind --cache-sim=yes`, counters zeroed before and dumped after each
# run, counted in the connection's thread, per row changed (TABLE_STATISTICS). Three
# databases in the same server: (a) no trigger, (b) triggers that only CONCAT_WS the same
# columns, (c) dbaudit's triggers as `dbaudit watch` makes them.
#
# Why: under sysbench a row costs several times more µs than its instructions suggest, and
# far more than in the in-server loop of trigger_instructions.sh. Between two rows the
# connection reads the network, parses, plans and commits, so the trigger's code and data
# are cold. The simulated caches say how cold: L1 as the host's, and the last level set to
# 512 KB, the L2 of a core, so that its misses are the fetches from L3. "cycles" is an
# estimate from them, not a measurement: Ir + 12 × L1 misses + 40 × L2 misses (latencies
# of a recent x86 core). Like instruction counts, misses do not depend on what else the
# machine is doing.
#
# Usage: bash tests/benches/sysbench_instructions.sh   (EVENTS=1000 by default; ~10 minutes)
# Needs: valgrind, sysbench, mariadb-server (mariadbd, mariadb-install-db, mariadb), cargo.
set -euo pipefail
cd "$(dirname "$0")/../.."
EVENTS=${EVENTS:-1000}
WORKLOADS=${WORKLOADS:-oltp_insert oltp_update_non_index oltp_delete}
. tests/benches/callgrind_server.sh
callgrind_server sysbench_instructions "sysbench" "--cache-sim=yes --LL=524288,8,64" "--innodb-buffer-pool-size=256M --userstat=1"

sb() { sysbench "$1" --db-driver=mysql --mysql-socket="$D/sock" --mysql-user=root --mysql-db="$2" --tables=1 --table-size=10000 "${@:3}"; }
for db in sb_a sb_b sb_c; do
    sql -e "CREATE DATABASE $db"
    sb oltp_insert "$db" prepare >/dev/null
done
new='NEW.`id`, NEW.`k`, NEW.`c`, NEW.`pad`'
old=${new//NEW./OLD.}
sql sb_b -e "CREATE TRIGGER b_ai AFTER INSERT ON sbtest1 FOR EACH ROW SET @concat = CONCAT_WS(',', $new);
    CREATE TRIGGER b_au AFTER UPDATE ON sbtest1 FOR EACH ROW SET @concat = CONCAT_WS(',', $old, $new);
    CREATE TRIGGER b_ad AFTER DELETE ON sbtest1 FOR EACH ROW SET @concat = CONCAT_WS(',', $old)"
"$target/release/dbaudit" --defaults-file /dev/null --socket "$D/sock" --user root --key-file "$D/key" \
    --watch-list "$D/watch.json" watch sb_c.sbtest1 >/dev/null

rows_changed() {
    sql -N -e "SELECT COALESCE(SUM(ROWS_CHANGED), 0) FROM information_schema.TABLE_STATISTICS WHERE TABLE_SCHEMA = '$1'"
}

# One sysbench run of $1 against database $2 with ids from seed $3, measured: prints the
# rows changed, then the connection thread's
# Ir I1mr D1mr D1mw ILmr DLmr DLmw, then the same within libdbaudit_udf.so, per row changed.
measure() {
    local before after newest dump best=0 line best_line=
    before=$(rows_changed "$2")
    callgrind_control -z "$VPID" >/dev/null 2>&1
    sb "$1" "$2" --threads=1 --events="$EVENTS" --time=0 --rand-type=uniform --rand-seed="$3" run >/dev/null
    callgrind_control -d "$VPID" >/dev/null 2>&1
    after=$(rows_changed "$2")
    newest=$(ls -t "$D"/out/ | sed -n 1p)
    for dump in "$D"/out/"${newest%-*}"-*; do
        line=$(callgrind_annotate --threshold=100 --show=Ir,I1mr,D1mr,D1mw,ILmr,DLmr,DLmw "$dump" 2>/dev/null | awk '
            {   n = 0; what = ""
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^\(/ || $i ~ /%\)$/) continue
                    if ($i == "." || $i ~ /^[0-9,]+$/) { v = $i; gsub(",", "", v); x[++n] = (v == "." ? 0 : v) }
                    else { what = $0; break }
                }
                if (n != 7) next
                if (what ~ /PROGRAM TOTALS/) for (i = 1; i <= 7; i++) t[i] = x[i]
                else if (what ~ /libdbaudit_udf\.so\]$/) for (i = 1; i <= 7; i++) u[i] += x[i]
            }
            END { for (i = 1; i <= 7; i++) printf "%d ", t[i]; for (i = 1; i <= 7; i++) printf "%d ", u[i]; print "" }')
        read -r total _ <<< "$line"
        if [ "$total" -gt "$best" ]; then best=$total best_line=$line; fi
    done
    echo "$((after - before)) $best_line"
}

echo "mariadbd per row changed under sysbench, one thread, in the connection's thread (callgrind with"
echo "cache simulation; MariaDB $("$MARIADBD" --version | awk '{print $3}'); $EVENTS events a run)"
echo
echo "| workload | | Ir | L1 misses | L2 misses | cycles (estimate) | of which in libdbaudit_udf.so: Ir | L1 misses | L2 misses | cycles |"
echo "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"
for workload in $WORKLOADS; do
    declare -A cycles=() irs=()
    # The same ids for a, b and c; other ids to warm up (a delete finds each row once).
    for db in sb_a sb_b sb_c; do measure "$workload" "$db" 1 >/dev/null; done
    for db in sb_a sb_b sb_c; do
        read -r rows ir i1 d1r d1w ilr dlr dlw uir ui1 ud1r ud1w uilr udlr udlw < <(measure "$workload" "$db" 7)
        [ "$rows" -gt 0 ] || { echo "sysbench_instructions: $workload changed no row of $db" >&2; exit 1; }
        l1=$(((i1 + d1r + d1w) / rows)) l2=$(((ilr + dlr + dlw) / rows))
        ul1=$(((ui1 + ud1r + ud1w) / rows)) ul2=$(((uilr + udlr + udlw) / rows))
        cycles[$db]=$((ir / rows + 12 * l1 + 40 * l2))
        irs[$db]=$((ir / rows))
        udf="| | | |"
        [ "$db" = sb_c ] && udf="| $((uir / rows)) | $ul1 | $ul2 | $((uir / rows + 12 * ul1 + 40 * ul2)) |"
        echo "| $workload | ${db#sb_} | ${irs[$db]} | $l1 | $l2 | ${cycles[$db]} $udf"
    done
    echo "| $workload | c − b | $((irs[sb_c] - irs[sb_b])) | | | $((cycles[sb_c] - cycles[sb_b])) | | | | |"
done
echo
echo "a: no trigger, b: CONCAT_WS trigger, c: dbaudit. records in the audit log: $(wc -l < "$D/audit.log")"
