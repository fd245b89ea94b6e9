# Sourced by trigger_instructions.sh and sysbench_instructions.sh: a private mariadbd under
# `valgrind --tool=callgrind`, with this build's UDF loaded and a key of its own.
#
# callgrind_server NAME TOOLS VALGRIND_OPTIONS SERVER_OPTIONS
#   NAME names the script in its messages; TOOLS are the commands it needs besides valgrind's
#   and mariadb's. Builds the UDF and the dbaudit command, then sets D (the temporary
#   directory, removed on exit with the server stopped), VPID (valgrind's pid), target (the
#   cargo target directory) and MARIADBD, defines sql (the mariadb client as root), and
#   creates dbaudit_log. Dumps go to $D/out/cg.<pid>-<thread>.

callgrind_server() {
    local name=$1 tools=$2 valgrind_options=$3 server_options=$4 tool
    for tool in valgrind callgrind_control callgrind_annotate mariadb-install-db mariadb $tools; do
        command -v "$tool" >/dev/null || { echo "$name: $tool not found (apt-get install valgrind mariadb-server $tools)" >&2; exit 2; }
    done
    MARIADBD=$(command -v mariadbd || echo /usr/sbin/mariadbd)
    [ -x "$MARIADBD" ] || { echo "$name: mariadbd not found (apt-get install mariadb-server)" >&2; exit 2; }

    cargo build --release --quiet -p dbaudit-udf -p dbaudit-cli
    target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')

    D=$(mktemp -d -t "dbaudit-$name.XXXXXX")
    VPID=
    trap 'callgrind_server_stop' EXIT
    mkdir -p "$D/data" "$D/plugin" "$D/out"
    cp "$target/release/libdbaudit_udf.so" "$D/plugin/"
    head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$D/key"; echo >> "$D/key"
    printf '[dbaudit-udf]\nlog = %s/audit.log\nkey_file = %s/key\n' "$D" "$D" > "$D/udf.cnf"
    mariadb-install-db --no-defaults --datadir="$D/data" --auth-root-authentication-method=normal >/dev/null 2>&1

    # io_uring and native AIO hang under valgrind; the private server needs neither.
    # shellcheck disable=SC2086 # the options are words on purpose
    DBAUDIT_UDF_CONFIG="$D/udf.cnf" valgrind --tool=callgrind $valgrind_options --separate-threads=yes \
        --callgrind-out-file="$D/out/cg.%p" \
        "$MARIADBD" --no-defaults --user="$(id -un)" --datadir="$D/data" --socket="$D/sock" --skip-networking \
        --plugin-dir="$D/plugin" --log-error="$D/error.log" --skip-log-bin --innodb-use-native-aio=0 \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci $server_options \
        > "$D/valgrind.log" 2>&1 &
    VPID=$!
    for _ in $(seq 1 300); do [ -S "$D/sock" ] && break; sleep 1; done
    [ -S "$D/sock" ] || { echo "$name: mariadbd did not start; see its log:" >&2; tail -n 20 "$D/error.log" >&2; exit 1; }
    sql -e "CREATE FUNCTION dbaudit_log RETURNS INTEGER SONAME 'libdbaudit_udf.so'"
}

callgrind_server_stop() {
    [ -n "${VPID:-}" ] && kill "$VPID" 2>/dev/null && wait "$VPID" 2>/dev/null
    rm -rf "$D"
}

sql() { mariadb --no-defaults -uroot -S "$D/sock" "$@"; }
