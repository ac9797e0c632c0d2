#!/usr/bin/env bash
# Benchmark radgate, and FreeRADIUS 3.2 side by side when it is installed, on
# loopback with the same workload. See BENCHMARKS.md for what is measured.
#
#   scripts/bench.sh                      10k codes, concurrency 64, all modes
#   scripts/bench.sh --codes 100000       100k codes (1000000 for 1M)
#   scripts/bench.sh --scaling            codes 10k/100k/1M x concurrency 1/16/64/256
#   scripts/bench.sh --scaling --scaling-codes "10000 1000000" --scaling-concurrency 64 --rounds 5
#                                         10k against 1M in five alternating rounds (medians)
#   scripts/bench.sh --install            apt-get install freeradius freeradius-utils sqlite3 first
#   scripts/bench.sh --help               every option
#
# Everything runs on 127.0.0.1 in a private temporary directory; every server
# the script starts is stopped when it exits (also on Ctrl-C or an error).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TEMPLATES="$ROOT/scripts/freeradius"

CODES=10000
CONCURRENCY="64"
DURATION=10s
WARMUP=2s
TIMEOUT=1s
MODES="auth-pap auth-chap acct"
TARGETS="responder radgate freeradius-sql freeradius-files"
SCALING=0
SCALING_CODES="10000 100000 1000000"
SCALING_CONCURRENCY="1 16 64 256"
ROUNDS=1
ROUND=1
INSTALL=0
BUILD=1
KEEP=0
CODES_STATE=fresh
FR_SQL_THREADS=32
FR_FILES_THREADS=4
GEN_THREADS=1
INTERIMS=1
SECRET=testing123
PREFIX=BENCH
RECV_BUFF=4194304
OUT=""

usage() {
  cat <<EOF
Usage: scripts/bench.sh [options]

  --codes N              codes to seed (default $CODES; 100000 and 1000000 on request)
  --concurrency "LIST"   requests in flight, one run per value (default "$CONCURRENCY")
  --duration D           measured time per run (default $DURATION)
  --warmup D             unmeasured load before each run (default $WARMUP)
  --timeout D            a request unanswered after D is a timeout (default $TIMEOUT)
  --modes "LIST"         any of auth-pap auth-chap acct (default "$MODES")
  --targets "LIST"       any of responder radgate freeradius-sql freeradius-files
                         (default: all; FreeRADIUS is skipped when not installed)
  --scaling              run codes "$SCALING_CODES" x concurrency "$SCALING_CONCURRENCY"
  --scaling-codes "LIST" codes for --scaling
  --scaling-concurrency "LIST"
  --rounds N             radgate: N rounds over the codes values, each run on a
                         freshly restarted server and a database reset to its
                         seeded state, so that 10k and 1M alternate instead of
                         running minutes apart; prints the median of each and of
                         the round-by-round ratios (default $ROUNDS)
  --install              install freeradius freeradius-utils sqlite3 with apt-get if missing
  --fr-sql-threads N     FreeRADIUS worker threads and SQL pool size, rlm_sql setup
                         (default $FR_SQL_THREADS)
  --fr-files-threads N   FreeRADIUS worker threads, files setup (default $FR_FILES_THREADS)
  --gen-threads N        load generator runtime threads (default $GEN_THREADS)
  --interims N           acct: Interim-Updates per session between Start and Stop
                         (default $INTERIMS; rows are labelled acct-iN when N is not 1)
  --secret S             shared secret (default $SECRET)
  --out DIR              where results go (default target/bench/<date-time>)
  --no-build             use the existing release binaries
  --keep                 keep the temporary directory (configs, databases, logs)
  --codes-state S        fresh (default): radgate's codes were never used, so the
                         first login of each code records FirstUsedOn/LastAccess
                         (a write to a random page); used: seeded as used just
                         now, so logins within 60 s write nothing (the steady
                         state of codes in service; FreeRADIUS is unaffected)
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --codes|--concurrency|--duration|--warmup|--timeout|--modes|--targets|--scaling-codes|\
    --scaling-concurrency|--rounds|--fr-sql-threads|--fr-files-threads|--gen-threads|--interims|\
    --secret|--out|--codes-state)
      if [ $# -lt 2 ] || [ "${2#--}" != "$2" ]; then
        echo "bench.sh: $1 needs a value" >&2; usage >&2; exit 2
      fi ;;
  esac
  case "$1" in
    --codes) CODES=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    --targets) TARGETS=$2; shift 2 ;;
    --scaling) SCALING=1; shift ;;
    --scaling-codes) SCALING_CODES=$2; shift 2 ;;
    --scaling-concurrency) SCALING_CONCURRENCY=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --install) INSTALL=1; shift ;;
    --fr-sql-threads) FR_SQL_THREADS=$2; shift 2 ;;
    --fr-files-threads) FR_FILES_THREADS=$2; shift 2 ;;
    --gen-threads) GEN_THREADS=$2; shift 2 ;;
    --interims) INTERIMS=$2; shift 2 ;;
    --secret) SECRET=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --keep) KEEP=1; shift ;;
    --codes-state) CODES_STATE=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
case "$INTERIMS" in
  ''|*[!0-9]*) echo "bench.sh: --interims must be a number, got $INTERIMS" >&2; exit 2 ;;
esac
case "$ROUNDS" in
  ''|*[!0-9]*) echo "bench.sh: --rounds must be a number of at least 1, got $ROUNDS" >&2; exit 2 ;;
esac
ROUNDS=$((10#$ROUNDS))
if [ "$ROUNDS" -lt 1 ]; then echo "bench.sh: --rounds must be a number of at least 1, got 0" >&2; exit 2; fi
case "$CODES_STATE" in
  fresh|used) ;;
  *) echo "bench.sh: --codes-state must be fresh or used, got $CODES_STATE" >&2; exit 2 ;;
esac

say() { printf '%s\n' "$*" >&2; }
die() { say "bench.sh: $*"; exit 1; }
has_target() { case " $TARGETS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# ---------------------------------------------------------------- processes
# Every server this script starts, by PID; all are stopped on exit.
PIDS=()
WORK=""
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    if [ "$KEEP" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_pid() {
  local pid=$1 p rest=()
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || rest+=("$p"); done
  PIDS=("${rest[@]}")
}

# ---------------------------------------------------------------- tools
need_sqlite3() {
  command -v sqlite3 >/dev/null 2>&1 && return 0
  if [ "$INSTALL" = 1 ]; then
    apt_install sqlite3
  else
    die "sqlite3 is needed to seed the codes: apt-get install sqlite3 (or pass --install)"
  fi
}

APT_UPDATED=0
INSTALLED_FREERADIUS=0
apt_install() {
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  if [ "$APT_UPDATED" = 0 ]; then $sudo apt-get update -qq; APT_UPDATED=1; fi
  $sudo apt-get install -y -qq "$@" >/dev/null
}

FREERADIUS=""
find_freeradius() {
  if ! command -v freeradius >/dev/null 2>&1 && [ "$INSTALL" = 1 ]; then
    say "installing freeradius freeradius-utils sqlite3 (apt-get)"
    apt_install freeradius freeradius-utils sqlite3
    INSTALLED_FREERADIUS=1
    # The package may start the system service; this run started it, so stop
    # it by its PID file (the benchmark runs its own private instance).
    local pidfile=/run/freeradius/freeradius.pid
    if [ -f "$pidfile" ]; then
      local pid; pid=$(cat "$pidfile")
      if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = freeradius ]; then
        say "stopping the freeradius service the package started (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
      fi
    fi
  fi
  command -v freeradius >/dev/null 2>&1 || return 1
  command -v radclient >/dev/null 2>&1 || { say "radclient missing (freeradius-utils)"; return 1; }
  [ -d /etc/freeradius/3.0 ] || { say "/etc/freeradius/3.0 missing"; return 1; }
  FREERADIUS=$(command -v freeradius)
  return 0
}

# ---------------------------------------------------------------- setup
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
if [ "$BUILD" = 1 ]; then
  say "building release binaries (cargo build --release --bin radgate --bin radgate-bench)"
  (cd "$ROOT" && cargo build --release --bin radgate --bin radgate-bench)
fi
RADGATE="$TARGET_DIR/release/radgate"
BENCH="$TARGET_DIR/release/radgate-bench"
[ -x "$RADGATE" ] && [ -x "$BENCH" ] || die "release binaries missing in $TARGET_DIR/release (run without --no-build)"

if [ -z "$OUT" ]; then OUT="$TARGET_DIR/bench/$(date +%Y%m%d-%H%M%S)"; fi
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/radgate-bench.XXXXXX")
RESULTS="$OUT/results.jsonl"
SUMMARY="$OUT/summary.tsv"
ROUNDS_TSV="$OUT/rounds.tsv"
printf 'target\tmode\tconcurrency\tcodes\tround\trps\n' >"$ROUNDS_TSV"
: >"$RESULTS"
printf 'target\tmode\tconcurrency\tcodes\trps\tp50_ms\tp90_ms\tp99_ms\tmax_ms\taccepts\trejects\ttimeouts\tbad\tgen_cpu_us_per_req\n' >"$SUMMARY"
MARKDOWN="$OUT/summary.md"
{
  echo "| target | mode | concurrency | codes | req/s | p50 ms | p90 ms | p99 ms | max ms | accepts | rejects | timeouts | generator µs/req |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$MARKDOWN"

if has_target radgate || has_target freeradius-sql; then need_sqlite3; fi
HAVE_FR=0
if has_target freeradius-sql || has_target freeradius-files; then
  if find_freeradius; then
    HAVE_FR=1
  else
    say "FreeRADIUS not installed: skipping the FreeRADIUS rows (apt-get install freeradius freeradius-utils, or pass --install)"
  fi
fi

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
  echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel: $(uname -sr)"
  echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "radgate: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (modified)')"
  [ "$HAVE_FR" = 1 ] && echo "freeradius: $("$FREERADIUS" -v 2>/dev/null | head -1)"
  command -v sqlite3 >/dev/null && echo "sqlite3: $(sqlite3 --version | cut -d' ' -f1)"
  echo "net.core.rmem_max: $(cat /proc/sys/net/core/rmem_max 2>/dev/null || echo '?')"
  echo "settings: codes state $CODES_STATE, duration $DURATION, warmup $WARMUP, timeout $TIMEOUT, secret length ${#SECRET}, generator threads $GEN_THREADS, acct interims per session $INTERIMS, FreeRADIUS threads sql $FR_SQL_THREADS / files $FR_FILES_THREADS"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

# ---------------------------------------------------------------- helpers
code_width() { local w=${#1}; [ "$w" -lt 6 ] && w=6; echo "$w"; }

# JSON field of the generator's one-line output (flat keys; latency keys are unique).
jf() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1" | head -1 | tr -d '"'; }

header_printed=0
print_row() {
  if [ "$header_printed" = 0 ]; then
    printf '%-17s %-9s %5s %8s %9s %8s %8s %8s %8s %9s %8s %8s %5s %7s\n' \
      target mode conc codes req/s p50ms p90ms p99ms maxms accepts rejects timeouts bad gen-us
    header_printed=1
  fi
  printf '%-17s %-9s %5s %8s %9.0f %8.3f %8.3f %8.3f %8.3f %9s %8s %8s %5s %7.1f\n' "$@"
}

# run_load TARGET MODE CONCURRENCY CODES SERVER
run_load() {
  local target=$1 mode=$2 conc=$3 codes=$4 server=$5 json
  if ! json=$("$BENCH" load --server "$server" --secret "$SECRET" --mode "$mode" \
      --codes "$codes" --code-prefix "$PREFIX" --code-width "$(code_width $((codes - 1)))" \
      --concurrency "$conc" --duration "$DURATION" --warmup "$WARMUP" --timeout "$TIMEOUT" \
      --threads "$GEN_THREADS" --interims "$INTERIMS" --json); then
    say "$target $mode: the load generator failed"
    return 0
  fi
  # The row's label names a workload other than the default one.
  if [ "$mode" = acct ] && [ "$INTERIMS" != 1 ]; then mode="acct-i$INTERIMS"; fi
  printf '{"target":"%s","seeded_codes":%s,"result":%s}\n' "$target" "$codes" "$json" >>"$RESULTS"
  local row=("$target" "$mode" "$conc" "$codes" "$(jf "$json" rps)" "$(jf "$json" p50)" \
    "$(jf "$json" p90)" "$(jf "$json" p99)" "$(jf "$json" max)" "$(jf "$json" accepts)" \
    "$(jf "$json" rejects)" "$(jf "$json" timeouts)" "$(jf "$json" bad)" "$(jf "$json" generator_cpu_us_per_request | sed 's/^null$/0/')")
  (IFS=$'\t'; echo "${row[*]}") >>"$SUMMARY"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$mode" "$conc" "$codes" "$ROUND" "${row[4]}" >>"$ROUNDS_TSV"
  printf '| %s | %s | %s | %s | %.0f | %.3f | %.3f | %.3f | %.3f | %s | %s | %s | %.1f |\n' "${row[@]:0:12}" "${row[13]}" >>"$MARKDOWN"
  print_row "${row[@]}"
}

# ready SERVER MODE CODES [TRIES]: a few requests all answered with an accept.
ready() {
  local server=$1 mode=$2 codes=$3 tries=${4:-50}
  for _ in $(seq "$tries"); do
    if "$BENCH" load --server "$server" --secret "$SECRET" --mode "$mode" --codes "$codes" \
        --code-prefix "$PREFIX" --code-width "$(code_width $((codes - 1)))" \
        --requests 6 --concurrency 2 --warmup 0s --duration 5s --timeout 300ms \
        --strict --json >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

# ---------------------------------------------------------------- targets
run_responder() {
  local codes=$1 dir="$WORK/responder" ports auth acct pid mode conc
  mkdir -p "$dir"
  mapfile -t ports < <("$BENCH" free-ports 2)
  "$BENCH" responder --auth-listen "127.0.0.1:${ports[0]}" --acct-listen "127.0.0.1:${ports[1]}" \
    --secret "$SECRET" --max-duration 1h >"$dir/out.log" 2>&1 &
  pid=$!; PIDS+=("$pid")
  auth="127.0.0.1:${ports[0]}"; acct="127.0.0.1:${ports[1]}"
  ready "$auth" auth-pap "$codes" || { say "responder did not answer"; stop_pid "$pid"; return 0; }
  for mode in $MODES; do
    for conc in $CONCURRENCY; do
      if [ "$mode" = acct ]; then run_load responder "$mode" "$conc" "$codes" "$acct"
      else run_load responder "$mode" "$conc" "$codes" "$auth"; fi
    done
  done
  stop_pid "$pid"
}

# The codes' usage as seeded: never used (fresh), or used just now (used).
used_sql() {
  if [ "$CODES_STATE" = used ]; then
    echo "UPDATE access_tokens SET first_used_on = CAST(strftime('%s', 'now') AS INTEGER),
            last_access = CAST(strftime('%s', 'now') AS INTEGER);"
  fi
}

seed_radgate() {
  local dir=$1 codes=$2 width
  width=$(code_width $((codes - 1)))
  "$RADGATE" --config "$dir/radgate.toml" token list --format json >/dev/null
  sqlite3 "$dir/radgate.db" <<SQL >/dev/null
PRAGMA busy_timeout = 5000;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $codes - 1)
INSERT INTO access_tokens (unique_id, business_id, access_code, code_key, description,
    minutes_included, seconds_used, user_limit, created_on, updated_on, updated_by)
SELECT lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4'
         || substr(lower(hex(randomblob(2))), 2) || '-'
         || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2)
         || '-' || lower(hex(randomblob(6))),
       0, printf('${PREFIX}%0${width}d', i), printf('${PREFIX}%0${width}d', i), 'radgate-bench',
       1000000, 0, NULL, CAST(strftime('%s', 'now') AS INTEGER),
       CAST(strftime('%s', 'now') AS INTEGER), 'bench.sh'
FROM n;
$(used_sql)
COMMIT;
SQL
  local n; n=$(sqlite3 "$dir/radgate.db" 'SELECT count(*) FROM access_tokens')
  [ "$n" = "$codes" ] || die "radgate: seeded $n codes, expected $codes"
  "$RADGATE" --config "$dir/radgate.toml" token show "${PREFIX}$(printf "%0${width}d" 0)" --format json >/dev/null \
    || die "radgate cannot read the seeded codes"
}

# reset_radgate DIR: the database of a stopped radgate back to its seeded
# state (no sessions, nothing charged, the codes' usage as seeded), with the
# WAL copied back and the file on disk, so that every round starts alike.
reset_radgate() {
  sqlite3 "$1/radgate.db" <<SQL >/dev/null
PRAGMA busy_timeout = 5000;
BEGIN;
DELETE FROM sessions;
UPDATE access_tokens SET seconds_used = 0, first_used_on = NULL, last_access = NULL, spent_on = NULL;
$(used_sql)
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
  sync
}

# prepare_radgate CODES: configuration and seeded database in $WORK/radgate-CODES.
prepare_radgate() {
  local codes=$1 dir="$WORK/radgate-$1" ports auth acct
  mkdir -p "$dir"
  mapfile -t ports < <("$BENCH" free-ports 2)
  auth="127.0.0.1:${ports[0]}"; acct="127.0.0.1:${ports[1]}"
  echo "$auth" >"$dir/auth"; echo "$acct" >"$dir/acct"
  cat >"$dir/radgate.toml" <<EOF
[server]
auth_listen = "$auth"
acct_listen = "$acct"

[database]
url = "sqlite://$dir/radgate.db"

[[client]]
name = "bench"
address = "127.0.0.1"
secret = "$SECRET"
EOF
  say "radgate: seeding $codes codes"
  seed_radgate "$dir" "$codes"
  # The seeded database on disk before the load starts: otherwise the
  # kernel writes it back (hundreds of MB at 1M codes) during the run.
  sync
}

# serve_radgate CODES: start the prepared radgate, run the loads, stop it.
serve_radgate() {
  local codes=$1 dir="$WORK/radgate-$1" auth acct pid mode conc
  auth=$(cat "$dir/auth"); acct=$(cat "$dir/acct")
  RADGATE_LOG=${RADGATE_LOG:-warn} "$RADGATE" --config "$dir/radgate.toml" serve >"$dir/radgate.log" 2>&1 &
  pid=$!; PIDS+=("$pid")
  if ! ready "$auth" auth-pap "$codes"; then
    say "radgate did not answer on $auth; log:"; tail -20 "$dir/radgate.log" >&2
    stop_pid "$pid"; return 0
  fi
  local acct_ok=1
  if case " $MODES " in *" acct "*) true ;; *) false ;; esac; then
    if ! ready "$acct" acct "$codes" 3; then
      acct_ok=0
      say "radgate: no Accounting-Response on $acct (accounting not implemented in this build?): skipping radgate accounting"
    fi
  fi
  for mode in $MODES; do
    for conc in $CONCURRENCY; do
      if [ "$mode" = acct ]; then
        [ "$acct_ok" = 1 ] && run_load radgate "$mode" "$conc" "$codes" "$acct"
      else
        run_load radgate "$mode" "$conc" "$codes" "$auth"
      fi
    done
  done
  stop_pid "$pid"
}

run_radgate() {
  prepare_radgate "$1"
  serve_radgate "$1"
}

# setup_freeradius KIND DIR CODES AUTH_PORT ACCT_PORT
setup_freeradius() {
  local kind=$1 dir=$2 codes=$3 auth_port=$4 acct_port=$5 width queries threads=$FR_FILES_THREADS
  width=$(code_width $((codes - 1)))
  [ "$kind" = sql ] && threads=$FR_SQL_THREADS
  mkdir -p "$dir/log" "$dir/run"
  cp -rL /etc/freeradius/3.0 "$dir/raddb"
  rm -rf "$dir/raddb/mods-enabled" "$dir/raddb/sites-enabled"
  mkdir -p "$dir/raddb/mods-enabled" "$dir/raddb/sites-enabled"
  local subst=(-e "s|@RADDB@|$dir/raddb|g" -e "s|@LOG_DIR@|$dir/log|g" -e "s|@RUN_DIR@|$dir/run|g"
    -e "s|@THREADS@|$threads|g" -e "s|@MAX_REQUESTS@|1048576|g" -e "s|@SECRET@|$SECRET|g"
    -e "s|@AUTH_PORT@|$auth_port|g" -e "s|@ACCT_PORT@|$acct_port|g" -e "s|@RECV_BUFF@|$RECV_BUFF|g"
    -e "s|@FR_DB@|$dir/radius.db|g" -e "s|@BUSY_TIMEOUT@|5000|g" -e "s|@USERS_FILE@|$dir/users|g")
  sed "${subst[@]}" "$TEMPLATES/radiusd.conf" >"$dir/raddb/radiusd.conf"
  sed "${subst[@]}" "$TEMPLATES/clients.conf" >"$dir/raddb/clients.conf"
  sed "${subst[@]}" "$TEMPLATES/mods/pap" >"$dir/raddb/mods-enabled/pap"
  sed "${subst[@]}" "$TEMPLATES/mods/chap" >"$dir/raddb/mods-enabled/chap"
  # always (ok, fail, ...) and expr (%{tolower:}, used by the SQL queries) as Debian ships them.
  cp "$dir/raddb/mods-available/always" "$dir/raddb/mods-available/expr" "$dir/raddb/mods-enabled/"
  sed "${subst[@]}" "$TEMPLATES/sites/bench-$kind" >"$dir/raddb/sites-enabled/bench"
  if [ "$kind" = sql ]; then
    sed "${subst[@]}" "$TEMPLATES/mods/sql" >"$dir/raddb/mods-enabled/sql"
    queries="$dir/raddb/mods-config/sql/main/sqlite/queries.conf"
    # Debian 3.2.1: simul_verify_query compares username with the group
    # attribute, so Simultaneous-Use never rejects. Fix it in this copy only.
    sed -i "s/WHERE username = '%{\${group_attribute}}'/WHERE username = '%{SQL-User-Name}'/" "$queries"
    if grep -q "username = '%{\${group_attribute}}'" "$queries"; then
      die "could not fix simul_verify_query in $queries"
    fi
    sqlite3 "$dir/radius.db" <"$dir/raddb/mods-config/sql/main/sqlite/schema.sql"
    sqlite3 "$dir/radius.db" <<SQL >/dev/null
PRAGMA journal_mode = WAL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $codes - 1)
INSERT INTO radcheck (username, attribute, op, value)
SELECT printf('${PREFIX}%0${width}d', i), 'Cleartext-Password', ':=', printf('${PREFIX}%0${width}d', i) FROM n
UNION ALL
SELECT printf('${PREFIX}%0${width}d', i), 'Simultaneous-Use', ':=', '1' FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $codes - 1)
INSERT INTO radreply (username, attribute, op, value)
SELECT printf('${PREFIX}%0${width}d', i), 'Session-Timeout', ':=', '3600' FROM n
UNION ALL
SELECT printf('${PREFIX}%0${width}d', i), 'Acct-Interim-Interval', ':=', '300' FROM n;
COMMIT;
SQL
  else
    sed "${subst[@]}" "$TEMPLATES/mods/files" >"$dir/raddb/mods-enabled/files"
    seq 0 $((codes - 1)) | awk -v p="$PREFIX" -v w="$width" '{
      c = sprintf("%s%0" w "d", p, $1)
      printf "%s\tCleartext-Password := \"%s\"\n\tSession-Timeout := 3600,\n\tAcct-Interim-Interval := 300\n\n", c, c
    }' >"$dir/users"
  fi
}

# radclient_code AUTH|ACCT PORT ATTRS: prints the reply code name.
radclient_code() {
  local kind=$1 port=$2 attrs=$3
  printf '%s\n' "$attrs" | radclient -r 1 -t 3 -x "127.0.0.1:$port" "$kind" "$SECRET" 2>&1 \
    | sed -n 's/^Received \([A-Za-z-]*\) .*/\1/p' | head -1
}

# Simultaneous-Use = 1 must reject a second device while a session is open.
check_simultaneous_use() {
  local dir=$1 auth_port=$2 acct_port=$3 width=$4 code r1 r2 r3 r4
  code="${PREFIX}$(printf "%0${width}d" 0)"
  local a="User-Name = \"$code\", User-Password = \"$code\", NAS-IP-Address = 127.0.0.1"
  local s="User-Name = \"$code\", Acct-Session-Id = \"bench-simul-check\", NAS-IP-Address = 127.0.0.1, NAS-Port = 1, Calling-Station-Id = \"02:00:5E:00:00:01\", Framed-IP-Address = 198.18.255.1"
  r1=$(radclient_code auth "$auth_port" "$a, Calling-Station-Id = \"02:00:5E:00:00:01\"")
  r2=$(radclient_code acct "$acct_port" "$s, Acct-Status-Type = Start")
  r3=$(radclient_code auth "$auth_port" "$a, Calling-Station-Id = \"02:00:5E:00:00:02\"")
  r4=$(radclient_code acct "$acct_port" "$s, Acct-Status-Type = Stop, Acct-Session-Time = 10")
  sqlite3 "$dir/radius.db" >/dev/null "PRAGMA busy_timeout = 5000; DELETE FROM radacct WHERE acctsessionid = 'bench-simul-check'; DELETE FROM radpostauth;"
  say "freeradius-sql Simultaneous-Use check: first device $r1, Start $r2, second device $r3, Stop $r4"
  [ "$r1" = Access-Accept ] && [ "$r2" = Accounting-Response ] && [ "$r3" = Access-Reject ] && [ "$r4" = Accounting-Response ]
}

run_freeradius() {
  local kind=$1 codes=$2 dir="$WORK/freeradius-$1-$2" ports auth acct pid mode conc
  mapfile -t ports < <("$BENCH" free-ports 2)
  auth="127.0.0.1:${ports[0]}"; acct="127.0.0.1:${ports[1]}"
  say "freeradius-$kind: preparing $codes codes in $dir"
  setup_freeradius "$kind" "$dir" "$codes" "${ports[0]}" "${ports[1]}"
  sync  # as for radgate: the seeded files on disk before the load
  if ! "$FREERADIUS" -C -l stdout -d "$dir/raddb" >"$dir/log/check.log" 2>&1; then
    say "freeradius-$kind: configuration check failed:"; tail -20 "$dir/log/check.log" >&2
    return 0
  fi
  "$FREERADIUS" -f -d "$dir/raddb" >"$dir/log/console.log" 2>&1 &
  pid=$!; PIDS+=("$pid")
  if ! ready "$auth" auth-pap "$codes" 150; then
    say "freeradius-$kind did not answer on $auth; log:"
    tail -20 "$dir/log/radius.log" "$dir/log/console.log" >&2 2>/dev/null || true
    stop_pid "$pid"; return 0
  fi
  if [ "$kind" = sql ]; then
    if ! check_simultaneous_use "$dir" "${ports[0]}" "${ports[1]}" "$(code_width $((codes - 1)))"; then
      say "freeradius-sql: Simultaneous-Use = 1 did not reject a second device: not measuring it"
      stop_pid "$pid"; return 0
    fi
  fi
  for mode in $MODES; do
    for conc in $CONCURRENCY; do
      if [ "$mode" = acct ]; then run_load "freeradius-$kind" "$mode" "$conc" "$codes" "$acct"
      else run_load "freeradius-$kind" "$mode" "$conc" "$codes" "$auth"; fi
    done
  done
  stop_pid "$pid"
}

run_all() {
  local codes=$1
  has_target responder && run_responder "$codes"
  if [ "$ROUNDS" = 1 ] && has_target radgate; then run_radgate "$codes"; fi
  if [ "$HAVE_FR" = 1 ]; then
    has_target freeradius-sql && run_freeradius sql "$codes"
    has_target freeradius-files && run_freeradius files "$codes"
  fi
  return 0
}

# ---------------------------------------------------------------- run
if [ "$SCALING" = 1 ]; then
  CONCURRENCY=$SCALING_CONCURRENCY
  ALL_CODES=$SCALING_CODES
else
  ALL_CODES=$CODES
fi
for c in $ALL_CODES; do run_all "$c"; done
if [ "$ROUNDS" != 1 ] && has_target radgate; then
  for c in $ALL_CODES; do prepare_radgate "$c"; done
  for r in $(seq "$ROUNDS"); do
    say "radgate: round $r of $ROUNDS"
    ROUND=$r
    for c in $ALL_CODES; do
      reset_radgate "$WORK/radgate-$c"
      serve_radgate "$c"
    done
  done
fi

# ---------------------------------------------------------------- ratios
# Median of a[1..n] (awk), shared by the programs below.
AWK_MEDIAN='
function median(a, n,    i, j, t, b) {
  for (i = 1; i <= n; i++) b[i] = a[i]
  for (i = 2; i <= n; i++) for (j = i; j > 1 && b[j - 1] > b[j]; j--) { t = b[j]; b[j] = b[j - 1]; b[j - 1] = t }
  return (n % 2) ? b[(n + 1) / 2] : (b[n / 2] + b[n / 2 + 1]) / 2
}'
{
  echo
  echo "ratios from this run (radgate / other; throughput higher is better, p99 lower is better; radgate's median when it ran several rounds):"
  awk -F'\t' "$AWK_MEDIAN"'
    NR == 1 { next }
    {
      key = $2 "\t" $3 "\t" $4; keys[key] = 1; tg[$1] = 1
      n = ++nr[$1, key]; r[$1, key, n] = $5; q[$1, key, n] = $8
    }
    END {
      for (tk in nr) {
        n = nr[tk]
        for (i = 1; i <= n; i++) { a[i] = r[tk, i]; b[i] = q[tk, i] }
        rps[tk] = median(a, n); p99[tk] = median(b, n)
      }
      n = split("freeradius-sql freeradius-files responder", others, " ")
      found = 0
      for (key in keys) {
        if (!(("radgate", key) in rps)) continue
        split(key, k, "\t")
        for (i = 1; i <= n; i++) {
          o = others[i]
          if (!((o, key) in rps) || rps[o, key] == 0) continue
          found = 1
          printf "  radgate/%-17s %-9s conc %-4s codes %-8s throughput x%.2f   p99 x%.2f\n", \
            o, k[1], k[2], k[3], rps["radgate", key] / rps[o, key], \
            (p99[o, key] > 0 ? p99["radgate", key] / p99[o, key] : 0)
        }
      }
      if (!found) print "  (no pair of radgate and another target with the same settings)"
      # The generator ceiling: a server at more than half of what the
      # generator reaches against the trivial responder may be limited by it.
      for (key in keys) {
        if (!(("responder", key) in rps)) continue
        split(key, k, "\t")
        for (t in tg) {
          if (t == "responder" || !((t, key) in rps)) continue
          if (rps[t, key] > 0.5 * rps["responder", key])
            printf "  WARNING %s %s conc %s codes %s: %.0f req/s is over half the generator ceiling (%.0f req/s): the generator (or the cores it shares with the server) may limit it\n", \
              t, k[1], k[2], k[3], rps[t, key], rps["responder", key]
        }
      }
    }' "$SUMMARY" | sort -k1,1 -k2,2 -k4,4n -k6,6n
  # radgate at more codes against the fewest, per mode and concurrency: the
  # median of each codes value's runs, the ratio of the medians, and each
  # round's ratio (runs paired by round, so a round that failed for one
  # codes value is left out, not paired with another round).
  scaling=$(awk -F'\t' "$AWK_MEDIAN"'
    NR == 1 || $1 != "radgate" { next }
    { mk = $2 "\t" $3; mc[mk, $4] = 1; modes[mk] = 1; rps[mk, $4, $5] = $6; if ($5 > last) last = $5 }
    END {
      for (mk in modes) {
        split(mk, m, "\t")
        nc = 0
        for (x in mc) { split(x, y, SUBSEP); if (y[1] == mk) cs[++nc] = y[2] + 0 }
        for (i = 2; i <= nc; i++) for (j = i; j > 1 && cs[j - 1] > cs[j]; j--) { t = cs[j]; cs[j] = cs[j - 1]; cs[j - 1] = t }
        base = cs[1]
        for (i = 1; i <= nc; i++) {
          c = cs[i]; n = 0
          for (rd = 1; rd <= last; rd++) if ((mk, c, rd) in rps) v[++n] = rps[mk, c, rd]
          if (nc < 2 && n < 2) continue
          med[c] = median(v, n)
          line = sprintf("  radgate scaling %-9s conc %-4s codes %-8s median %.0f req/s over %d run(s)", m[1], m[2], c, med[c], n)
          if (c != base) {
            if (med[base] > 0) line = line sprintf(" = %.0f%% of %s", 100 * med[c] / med[base], base)
            pn = 0; rl = ""
            for (rd = 1; rd <= last; rd++) {
              if (!((mk, c, rd) in rps) || !((mk, base, rd) in rps) || rps[mk, base, rd] <= 0) continue
              pr[++pn] = rps[mk, c, rd] / rps[mk, base, rd]
              rl = rl sprintf(" %.0f%%", 100 * pr[pn])
            }
            if (pn > 0) line = line sprintf("; by round%s (median %.0f%%)", rl, 100 * median(pr, pn))
          }
          print line
        }
      }
    }' "$OUT/rounds.tsv" | sort -k3,3 -k5,5n -k7,7n)
  if [ -n "$scaling" ]; then printf '\n%s\n' "$scaling"; fi
  echo
} | tee "$OUT/ratios.txt"
say "results: $SUMMARY (table), $MARKDOWN (the same as Markdown rows), $OUT/ratios.txt, $OUT/rounds.tsv (radgate's runs by round), $RESULTS (full JSON per run), $OUT/machine.txt"
