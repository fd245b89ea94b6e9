#!/usr/bin/env bash
# dbaudit's installer.
#
#   ./install.sh --ossec-dir /var/ossec [dbaudit install options…]
#       builds the workspace (cargo build --release --locked) and runs `dbaudit install`
#       with the options given (see `target/release/dbaudit install --help`).
#   ./install.sh --demo [--keep]
#       the whole kit on a throwaway MariaDB and a throwaway OSSEC-layout tree under a
#       temporary directory: nothing outside it is touched (but for installing
#       mariadb-server when it is missing). --keep leaves it running and says how to stop it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
target="${CARGO_TARGET_DIR:-$here/target}/release"

say() { printf '%s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
}

need_cargo() {
    command -v cargo >/dev/null || die "cargo not found: install Rust 1.89 or newer (rustup), then run this again"
}

build() {
    need_cargo
    say "==> cargo build --release --locked"
    (cd "$here" && cargo build --release --locked --quiet) || die "the build failed (see above)"
}

find_mariadbd() {
    local d
    for d in $(printf '%s' "$PATH" | tr ':' ' ') /usr/sbin /usr/libexec; do
        if [ -x "$d/mariadbd" ]; then printf '%s\n' "$d/mariadbd"; return 0; fi
    done
    return 1
}

install_mode() {
    [ "$(id -u)" -eq 0 ] || die "installing needs root: run it with sudo"
    local ossec_dir="" arg prev=""
    for arg in "$@"; do
        case "$arg" in
            --ossec-dir=*) ossec_dir="${arg#--ossec-dir=}" ;;
        esac
        [ "$prev" = "--ossec-dir" ] && ossec_dir="$arg"
        prev="$arg"
    done
    [ -n "$ossec_dir" ] || die "name the OSSEC or Wazuh directory: --ossec-dir /var/ossec"
    [ -d "$ossec_dir" ] || die "$ossec_dir is not a directory: is OSSEC or Wazuh installed there?"
    [ -f "$ossec_dir/etc/ossec.conf" ] || die "$ossec_dir/etc/ossec.conf not found: is $ossec_dir an OSSEC or Wazuh directory?"
    build
    exec "$target/dbaudit" install "$@"
}

# ---------------------------------------------------------------------------------------
# The demo.

demo() {
    # Global, not local: the EXIT trap runs after demo() has returned.
    keep=0
    local arg
    for arg in "$@"; do
        case "$arg" in
            --keep) keep=1 ;;
            *) die "unknown demo option: $arg (only --keep)" ;;
        esac
    done

    local mariadbd
    if ! mariadbd=$(find_mariadbd); then
        if [ "$(id -u)" -ne 0 ]; then
            die "mariadbd not found: run \`sudo apt-get install -y mariadb-server\`, then this again"
        fi
        say "==> mariadb-server is not installed: installing it (apt-get install -y mariadb-server)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null
        mariadbd=$(find_mariadbd) || die "mariadbd still not found after installing mariadb-server"
    fi
    local install_db client
    install_db=$(command -v mariadb-install-db || command -v mysql_install_db) \
        || die "mariadb-install-db not found: apt-get install -y mariadb-server"
    client=$(command -v mariadb || command -v mysql) || die "the mariadb client not found: apt-get install -y mariadb-client"
    build

    T=$(mktemp -d /tmp/dbaudit-demo.XXXXXX)
    chmod 755 "$T"
    local sock="$T/mysqld.sock" ossec="$T/ossec"
    demo_cleanup() {
        if [ "$keep" -eq 1 ]; then return; fi
        if [ -f "$T/mysqld.pid" ]; then kill "$(cat "$T/mysqld.pid")" 2>/dev/null || true; fi
        for _ in $(seq 1 100); do [ -e "$T/mysqld.pid" ] || break; sleep 0.1; done
        rm -rf "$T"
    }
    trap demo_cleanup EXIT

    local as_root=()
    [ "$(id -u)" -eq 0 ] && as_root=(--user=root)

    say "==> a throwaway MariaDB in $T (private socket, no networking)"
    "$install_db" --no-defaults --datadir="$T/data" --auth-root-authentication-method=normal \
        --skip-test-db "${as_root[@]}" >"$T/install-db.log" 2>&1 \
        || { cat "$T/install-db.log"; die "mariadb-install-db failed"; }
    mkdir -p "$T/plugin"
    DBAUDIT_UDF_CONFIG="$T/dbaudit-udf.cnf" "$mariadbd" --no-defaults --datadir="$T/data" --socket="$sock" \
        --pid-file="$T/mysqld.pid" --log-error="$T/error.log" --plugin-dir="$T/plugin" --skip-networking \
        --character-set-server=utf8mb4 --innodb-buffer-pool-size=32M --table-open-cache=400 "${as_root[@]}" &

    for _ in $(seq 1 300); do
        "$client" --no-defaults --socket="$sock" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
        sleep 0.1
    done
    "$client" --no-defaults --socket="$sock" -uroot -e 'SELECT 1' >/dev/null || { tail "$T/error.log"; die "mariadbd did not start"; }

    say "==> a throwaway OSSEC tree in $ossec"
    mkdir -p "$ossec"/{etc,rules,bin,active-response/bin,logs,var/run,queue}
    cat >"$ossec/etc/ossec.conf" <<'CONF'
<!-- A minimal OSSEC configuration, as the demo's throwaway tree holds it. -->
<ossec_config>
  <global>
    <email_notification>no</email_notification>
  </global>

  <rules>
    <include>rules_config.xml</include>
    <include>syslog_rules.xml</include>
    <include>ossec_rules.xml</include>
  </rules>
</ossec_config>

<ossec_config>
  <localfile>
    <log_format>syslog</log_format>
    <location>/var/log/auth.log</location>
  </localfile>
</ossec_config>
CONF
    cp "$ossec/etc/ossec.conf" "$T/ossec.conf.before"

    sql() { "$client" --no-defaults --socket="$sock" -uroot "$@"; }
    dbaudit() { "$ossec/bin/dbaudit" --defaults-file "$ossec/etc/dbaudit.cnf" --key-file "$T/dbaudit.key" "$@"; }
    section() { printf '\n──── %s ────\n' "$*"; }

    section "1. dbaudit install: the UDF into the server, the kit into the OSSEC tree"
    DBAUDIT_UDF_CONFIG="$T/dbaudit-udf.cnf" "$target/dbaudit" install --ossec-dir "$ossec" --role local \
        --socket "$sock" --user root --key-file "$T/dbaudit.key" --udf-config "$T/dbaudit-udf.cnf" \
        --log "$T/dbaudit.log" --from "$target"
    say "ossec.conf gained dbaudit's marked blocks (nothing else changed):"
    diff "$T/ossec.conf.before" "$ossec/etc/ossec.conf" | sed 's/^/    /' || true

    section "2. the seed article's table, watched, with password secret"
    sql -e "CREATE DATABASE acme;
            CREATE TABLE acme.users (id INT PRIMARY KEY AUTO_INCREMENT, login CHAR(20) NOT NULL, password CHAR(20) NOT NULL);
            CREATE USER app@localhost IDENTIFIED BY 'app-pw';
            GRANT SELECT, INSERT, UPDATE, DELETE ON acme.* TO app@localhost;
            CREATE USER mallory@localhost IDENTIFIED BY 'mallory-pw';"
    DBAUDIT_UDF_CONFIG="$T/dbaudit-udf.cnf" dbaudit watch acme.users --secret password
    dbaudit fingerprint >"$T/fingerprint.before"

    section "3. the seed's three statements, run by the application account app@localhost"
    local stmt
    for stmt in "INSERT INTO acme.users VALUES (7, 'xavier', 'zZDDIZ0NOlPzw')" \
                "UPDATE acme.users SET password = 'RjdqndSkxdjeX' WHERE id = 7" \
                "DELETE FROM acme.users WHERE id = 7"; do
        say "app> $stmt"
        "$client" --no-defaults --socket="$sock" -uapp -papp-pw -e "$stmt"
    done

    section "4. mallory calls dbaudit_log directly, claiming to be root"
    say "mallory> SELECT dbaudit_log('0123456789abcdef0123456789abcdef', 'acme', 'users', 'delete', 'root@localhost', 1, 'id', '', 7 AS \`old.id\`)"
    "$client" --no-defaults --socket="$sock" -umallory -pmallory-pw -e \
        "SELECT dbaudit_log('0123456789abcdef0123456789abcdef', 'acme', 'users', 'delete', 'root@localhost', 1, 'id', '', 7 AS \`old.id\`) AS result"

    section "5. the raw log the UDF wrote ($T/dbaudit.log): one sealed JSON record per line"
    sed 's/^/    /' "$T/dbaudit.log"

    section "6. someone edits one line: the update record now shows login 'admin'"
    sed -i '3s/"login":"xavier"/"login":"admin"/g' "$T/dbaudit.log"
    sed -n '3p' "$T/dbaudit.log" | sed 's/^/    /'
    say "dbaudit verify $T/dbaudit.log:"
    dbaudit verify "$T/dbaudit.log" | sed 's/^/    /' || say "    (exit $? : findings, as it should)"

    section "7. dbaudit-normalise once: what ossec-logcollector reads ($ossec/logs/dbaudit.log)"
    "$ossec/bin/dbaudit-normalise" once --input "$T/dbaudit.log" --key-file "$T/dbaudit.key" \
        --state "$ossec/var/dbaudit-normalise.state" --output "$ossec/logs/dbaudit.log" --host demo-db
    sed 's/^/    /' "$ossec/logs/dbaudit.log"

    local logtest="" candidate
    for candidate in "$ossec/bin/wazuh-logtest" "$ossec/bin/ossec-logtest"; do
        if [ -x "$candidate" ]; then logtest=$candidate; break; fi
    done
    if [ -n "$logtest" ]; then
        section "7b. the lines through $logtest"
        "$logtest" <"$ossec/logs/dbaudit.log" 2>&1 | grep -E "Rule id|Level|Description|\*\*Phase 3" | sed 's/^/    /' || true
    else
        say "(no ossec-logtest in $ossec/bin: a real OSSEC would raise 100021 for start, 100025 for each"
        say " row, 100027 for the forged call and 100028 for the edited line; see ossec/dbaudit_rules.xml)"
    fi

    section "8. the active response on rule 100025, as ossec-execd runs it (action = lock)"
    cat >>"$ossec/etc/dbaudit.cnf" <<CNF

[dbaudit]
action = lock
state_dir = $ossec/var/dbaudit
log = $ossec/logs/active-responses.log
CNF
    local line conn
    line=$(grep -m1 ' op=insert ' "$ossec/logs/dbaudit.log")
    conn=$(printf '%s' "$line" | sed -n 's/.* conn=\([0-9]*\) .*/\1/p')
    local respond="$ossec/active-response/bin/dbaudit-respond"
    say "execd> dbaudit-respond add app@localhost $conn 1795681579.1 100025 $T/dbaudit.log -"
    "$respond" add app@localhost "$conn" 1795681579.1 100025 "$ossec/logs/dbaudit.log" - </dev/null
    say "app> SELECT 1"
    "$client" --no-defaults --socket="$sock" -uapp -papp-pw -e 'SELECT 1' 2>&1 | sed 's/^/    /' || true
    say "execd (after the timeout)> dbaudit-respond delete app@localhost $conn 1795681579.1 100025 … -"
    "$respond" delete app@localhost "$conn" 1795681579.1 100025 "$ossec/logs/dbaudit.log" - </dev/null
    say "app> SELECT 'unlocked'"
    "$client" --no-defaults --socket="$sock" -uapp -papp-pw -e "SELECT 'unlocked' AS app" | sed 's/^/    /'
    say "what the response recorded ($ossec/logs/active-responses.log):"
    sed 's/^/    /' "$ossec/logs/active-responses.log"

    section "9. dbaudit fingerprint (OSSEC full_command + check_diff, rule 100029): a trigger dropped"
    sql -e 'DROP TRIGGER acme.dbaudit_users_au'
    dbaudit fingerprint >"$T/fingerprint.after"
    diff "$T/fingerprint.before" "$T/fingerprint.after" | sed 's/^/    /' || true

    if [ "$keep" -eq 1 ]; then
        section "kept running"
        say "MariaDB: $client --socket=$sock -uroot     OSSEC tree: $ossec"
        say "to stop: kill \$(cat $T/mysqld.pid); rm -rf $T"
    else
        section "done: the throwaway server and tree are removed"
    fi
}

case "${1:-}" in
    --demo) shift; demo "$@" ;;
    -h|--help|"") usage ;;
    *) install_mode "$@" ;;
esac
