#!/usr/bin/env bash
# Benchmark radgate, and FreeRADIUS 3.2 side by side when it is installed, on
# loopback with the same workload. See BENCHMARKS.md for what is measured.
#
#   scripts/bench.sh                      10k codes, concurrency 64, all modes, all
#                                         targets, 3 interleaved rounds
#   scripts/bench.sh --codes 100000       100k codes (1000000 for 1M)
#   scripts/bench.sh --scaling            codes 10k/100k/1M x concurrency 1/16/64/256
#   scripts/bench.sh --scaling --scaling-codes "10000 1000000" --scaling-concurrency 64 --rounds 5 \
#       --targets radgate --modes "auth-pap acct" --codes-state used
#                                         radgate at 10k against 1M, five interleaved rounds
#   scripts/bench.sh --install            apt-get install freeradius freeradius-utils sqlite3 first
#   scripts/bench.sh --database postgres  radgate on PostgreSQL (one node, and two nodes on one
#                                         database) against FreeRADIUS with rlm_sql on the same
#                                         PostgreSQL; the script runs a throwaway PostgreSQL
#   scripts/bench.sh --help               every option, and the files a run writes
#
# The fair comparison (issue 17): every target in every round, each mode on
# a freshly restarted server with its database reset, the targets' order
# rotating from round to round; FreeRADIUS at several thread counts, compared
# at its best; the accounting floor (bare journal append + fdatasync) in the
# same rounds. About 45 minutes on a 2-core machine (185 runs of 12 s):
#
#   scripts/bench.sh --rounds 5 --duration 10s --warmup 2s \
#       --fr-sql-threads "1 2 4 8 16 32" --fr-files-threads "1 2 4 8"
#
# The same on PostgreSQL (issue 18): radgate-pg (one node), radgate-pg2 (two
# nodes on the same database, the load split over both) and freeradius-pg
# (rlm_sql's postgresql driver on the same PostgreSQL, its own database),
# with the generator's ceiling and the fsync floor. About 40 minutes (155
# runs of 12 s):
#
#   scripts/bench.sh --database postgres --rounds 5 --duration 10s --warmup 2s \
#       --fr-pg-threads "1 2 4 8 16 32 64"
#
# Everything runs on 127.0.0.1 in a private temporary directory; every server
# the script starts is stopped when it exits (also on Ctrl-C or an error).
set -euo pipefail
# Numbers printed with a dot, and sort in byte order.
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TEMPLATES="$ROOT/scripts/freeradius"

CODES=10000
CONCURRENCY="64"
DURATION=10s
WARMUP=2s
TIMEOUT=1s
MODES="auth-pap auth-chap acct"
DATABASE=sqlite
SQLITE_TARGETS="responder radgate freeradius-sql freeradius-files floor"
PG_TARGETS="responder radgate-pg radgate-pg2 freeradius-pg floor"
ALL_TARGETS=$SQLITE_TARGETS
TARGETS=""
TARGETS_SET=0
SCALING=0
SCALING_CODES="10000 100000 1000000"
SCALING_CONCURRENCY="1 16 64 256"
ROUNDS=3
INSTALL=0
BUILD=1
KEEP=0
CODES_STATE=fresh
# FreeRADIUS thread counts to sweep (for sql: worker threads and SQL pool
# size). On the 2-core benchmark machine files was best at 2 threads, sql
# at 4-8 for logins and flat from 1 to 4 for accounting (falling from 8 on;
# short sweeps of 1, 2, 4, ..., 32); these lists hold each best.
FR_SQL_THREADS="2 4 8 16"
FR_FILES_THREADS="1 2 4"
# On PostgreSQL (short, noisy sweeps of 1 to 64): logins best at 4-8,
# accounting at 16-32 (PostgreSQL groups concurrent commits' WAL flushes).
FR_PG_THREADS="2 4 8 16 32"
FR_LOG_AUTH=no
RADGATE_LOG_SET=0
RADGATE_LOG_FILTER=""
GEN_THREADS=1
INTERIMS=1
USER_LIMIT=default
FLOOR_RECORD_BYTES=100
SECRET=testing123
PREFIX=BENCH
RECV_BUFF=4194304
OUT=""

usage() {
  cat <<EOF
Usage: scripts/bench.sh [options]

Rounds: in each of --rounds rounds, for each mode, every target runs on a
freshly restarted server (radgate's and FreeRADIUS+sql's databases reset to
their seeded state), in an order that rotates from round to round. Ratios are
taken within a round (radgate's run against the other target's run in the
same round) and reported as the median over the rounds with min and max.

  --codes N              codes to seed (default $CODES; 100000 and 1000000 on request)
  --concurrency "LIST"   requests in flight, one run per value (default "$CONCURRENCY")
  --duration D           measured time per run (default $DURATION)
  --warmup D             unmeasured load before each run (default $WARMUP)
  --timeout D            a request unanswered after D is a timeout (default $TIMEOUT)
  --modes "LIST"         any of auth-pap auth-chap acct (default "$MODES")
  --database sqlite|postgres
                         sqlite (default): radgate on SQLite, FreeRADIUS with
                         rlm_sql on SQLite (and with files). postgres: a
                         throwaway PostgreSQL started by the script (initdb in a
                         temporary directory, as the postgres user when root,
                         unix socket only, fsync = on, synchronous_commit = on;
                         stopped and removed at exit) holding radgate's database
                         and FreeRADIUS's (each its own), with the targets below
  --targets "LIST"       any of $SQLITE_TARGETS
                         (sqlite), or of $PG_TARGETS
                         (postgres) (default: all; FreeRADIUS is skipped when not
                         installed).
                         floor: radgate-bench fsync-floor, a bare ${FLOOR_RECORD_BYTES}-byte journal
                         append + fdatasync per request with ideal group commit,
                         in the directory that holds radgate's database (postgres:
                         on the filesystem of PostgreSQL's data directory); runs
                         with acct only, and is compared with radgate's acct.
                         radgate-pg: one radgate node on PostgreSQL.
                         radgate-pg2: two radgate nodes on the same database, the
                         generator's requests in flight split evenly over them
                         (one generator, one histogram: p99 over both).
                         freeradius-pg: FreeRADIUS with rlm_sql_postgresql (Debian
                         package freeradius-postgresql) and Debian's postgresql
                         queries, on the same PostgreSQL
  --rounds N             rounds (default $ROUNDS)
  --scaling              run codes "$SCALING_CODES" x concurrency "$SCALING_CONCURRENCY"
                         (every codes value is a target of its own in the rotation)
  --scaling-codes "LIST" codes for --scaling
  --scaling-concurrency "LIST"
  --fr-sql-threads "LIST"
                         FreeRADIUS+sql thread counts to run, each a target of its
                         own in every round (worker threads and SQL pool size;
                         default "$FR_SQL_THREADS"). The ratios use the one with the
                         highest median req/s per mode, concurrency and codes.
  --fr-files-threads "LIST"
                         the same for FreeRADIUS+files (default "$FR_FILES_THREADS")
  --fr-pg-threads "LIST"
                         the same for FreeRADIUS+sql on PostgreSQL (worker threads
                         and SQL pool size; default "$FR_PG_THREADS")
  --fr-threads-sweep "LIST"
                         all of the above
  --fr-log-auth yes|no   FreeRADIUS log section auth = yes: a "Login OK" line per
                         login (default $FR_LOG_AUTH: no line per request)
  --radgate-log FILTER   RADGATE_LOG for radgate serve (default: unset, so radgate's
                         built-in default applies; the environment's RADGATE_LOG
                         is not passed on)
  --install              install freeradius freeradius-utils sqlite3 with apt-get if missing
                         (with --database postgres: postgresql and
                         freeradius-postgresql too)
  --gen-threads N        load generator runtime threads (default $GEN_THREADS)
  --user-limit N|none    radgate's codes get UserLimit N, as FreeRADIUS's get
                         Simultaneous-Use := 1, and the logins of code N come
                         from device N (radgate-bench --device-per-code, every
                         target), so that every login is accepted and both
                         servers check the device limit on each. Default: 1
                         with --database postgres (issue 18 asks for it), none
                         on sqlite (radgate's codes without a limit, logins
                         from ever new devices: the runs recorded for issue 17)
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

Files written to the output directory:
  machine.txt     the machine, the settings, and both servers' per-request
                  logging and durability settings (postgres: PostgreSQL's
                  version and settings)
  rounds.tsv      every run, one row each: round, slot (its place in the
                  round's order), target, threads (FreeRADIUS; - otherwise),
                  mode, concurrency, codes (0 for floor), req/s, latency
                  p50/p90/p99/max ms, accepts, rejects, timeouts, bad,
                  generator CPU µs per request, and the lines and bytes the
                  server wrote to its log per request during the run
  summary.tsv     per target, threads, mode, concurrency and codes: the runs'
                  median, min and max req/s, median p50, median/min/max p99,
                  timeouts, bad, log lines per request; "best" marks the
                  FreeRADIUS thread count the ratios use
  summary.md      summary.tsv as a Markdown table
  ratios.txt      the logging settings; FreeRADIUS by thread count; radgate /
                  each other target (and / floor for acct), per round, median
                  [min-max] over the rounds, with each side's median req/s and
                  p99 (postgres: radgate-pg / freeradius-pg, radgate-pg2 /
                  freeradius-pg, and radgate-pg2 / radgate-pg, what the second
                  node adds); radgate at more codes against the fewest
                  (--scaling); warnings (generator ceiling, best thread count
                  at the edge of the sweep)
  results.jsonl   the generator's full JSON for every run, with its round
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --codes|--concurrency|--duration|--warmup|--timeout|--modes|--targets|--scaling-codes|\
    --scaling-concurrency|--rounds|--fr-sql-threads|--fr-files-threads|--fr-threads-sweep|\
    --fr-log-auth|--radgate-log|--gen-threads|--interims|--secret|--out|--codes-state|\
    --database|--fr-pg-threads)
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
    --targets) TARGETS=$2; TARGETS_SET=1; shift 2 ;;
    --scaling) SCALING=1; shift ;;
    --scaling-codes) SCALING_CODES=$2; shift 2 ;;
    --scaling-concurrency) SCALING_CONCURRENCY=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --install) INSTALL=1; shift ;;
    --fr-sql-threads) FR_SQL_THREADS=$2; shift 2 ;;
    --fr-files-threads) FR_FILES_THREADS=$2; shift 2 ;;
    --fr-pg-threads) FR_PG_THREADS=$2; shift 2 ;;
    --fr-threads-sweep) FR_SQL_THREADS=$2; FR_FILES_THREADS=$2; FR_PG_THREADS=$2; shift 2 ;;
    --database) DATABASE=$2; shift 2 ;;
    --fr-log-auth) FR_LOG_AUTH=$2; shift 2 ;;
    --radgate-log) RADGATE_LOG_SET=1; RADGATE_LOG_FILTER=$2; shift 2 ;;
    --gen-threads) GEN_THREADS=$2; shift 2 ;;
    --interims) INTERIMS=$2; shift 2 ;;
    --user-limit) USER_LIMIT=$2; shift 2 ;;
    --secret) SECRET=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --keep) KEEP=1; shift ;;
    --codes-state) CODES_STATE=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

# check_numbers OPTION MIN "LIST": every word a whole number of at least MIN.
check_numbers() {
  local opt=$1 min=$2 v
  [ -n "${3// /}" ] || { echo "bench.sh: $opt needs at least one value" >&2; exit 2; }
  for v in $3; do
    case "$v" in
      ''|*[!0-9]*) echo "bench.sh: $opt takes whole numbers, got $v" >&2; exit 2 ;;
    esac
    if [ "$((10#$v))" -lt "$min" ]; then
      echo "bench.sh: $opt values must be at least $min, got $v" >&2; exit 2
    fi
  done
}
check_numbers --interims 0 "$INTERIMS"
if [ "$USER_LIMIT" = default ]; then
  if [ "$DATABASE" = postgres ]; then USER_LIMIT=1; else USER_LIMIT=none; fi
fi
if [ "$USER_LIMIT" = none ]; then
  USER_LIMIT_SQL=NULL DEVICE_ARGS=()
else
  check_numbers --user-limit 1 "$USER_LIMIT"
  USER_LIMIT_SQL=$((10#$USER_LIMIT)) DEVICE_ARGS=(--device-per-code)
fi
check_numbers --rounds 1 "$ROUNDS"
ROUNDS=$((10#$ROUNDS))
check_numbers --codes 1 "$CODES"
check_numbers --concurrency 1 "$CONCURRENCY"
check_numbers --scaling-codes 1 "$SCALING_CODES"
check_numbers --scaling-concurrency 1 "$SCALING_CONCURRENCY"
check_numbers --fr-sql-threads 1 "$FR_SQL_THREADS"
check_numbers --fr-files-threads 1 "$FR_FILES_THREADS"
check_numbers --fr-pg-threads 1 "$FR_PG_THREADS"
check_numbers --gen-threads 1 "$GEN_THREADS"
case "$CODES_STATE" in
  fresh|used) ;;
  *) echo "bench.sh: --codes-state must be fresh or used, got $CODES_STATE" >&2; exit 2 ;;
esac
case "$FR_LOG_AUTH" in
  yes|no) ;;
  *) echo "bench.sh: --fr-log-auth must be yes or no, got $FR_LOG_AUTH" >&2; exit 2 ;;
esac
case "$DATABASE" in
  sqlite) ALL_TARGETS=$SQLITE_TARGETS ;;
  postgres) ALL_TARGETS=$PG_TARGETS ;;
  *) echo "bench.sh: --database must be sqlite or postgres, got $DATABASE" >&2; exit 2 ;;
esac
[ "$TARGETS_SET" = 1 ] || TARGETS=$ALL_TARGETS
for t in $TARGETS; do
  case " $ALL_TARGETS " in *" $t "*) ;; *) echo "bench.sh: unknown target $t with --database $DATABASE (known: $ALL_TARGETS)" >&2; exit 2 ;; esac
done
for m in $MODES; do
  case "$m" in auth-pap|auth-chap|acct) ;; *) echo "bench.sh: unknown mode $m" >&2; exit 2 ;; esac
done
# Thread lists in ascending order, each value once.
FR_SQL_THREADS=$(printf '%s\n' $FR_SQL_THREADS | sed 's/^0*\([0-9]\)/\1/' | sort -nu | tr '\n' ' ' | sed 's/ $//')
FR_FILES_THREADS=$(printf '%s\n' $FR_FILES_THREADS | sed 's/^0*\([0-9]\)/\1/' | sort -nu | tr '\n' ' ' | sed 's/ $//')
FR_PG_THREADS=$(printf '%s\n' $FR_PG_THREADS | sed 's/^0*\([0-9]\)/\1/' | sort -nu | tr '\n' ' ' | sed 's/ $//')

say() { printf '%s\n' "$*" >&2; }
die() { say "bench.sh: $*"; exit 1; }
has_target() { case " $TARGETS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
has_mode() { case " $MODES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# ---------------------------------------------------------------- processes
# Every server this script starts, by PID; all are stopped on exit.
PIDS=()
WORK=""
# --database postgres: the PostgreSQL this script started (its postmaster's
# PID) and its directory (data and unix socket).
PG_PID=""
PGDIR=""
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
  # After its clients (radgate, FreeRADIUS) are gone.
  stop_postgres
  if [ -n "$PGDIR" ] && [ -d "$PGDIR" ]; then
    if [ "$KEEP" = 1 ]; then say "kept $PGDIR (PostgreSQL's data, stopped)"; else rm -rf "$PGDIR"; fi
  fi
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    if [ "$KEEP" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
  fi
}

# stop_postgres: a fast shutdown (SIGINT: clients cut off, a checkpoint,
# then exit) of the PostgreSQL this script started, by its postmaster's PID;
# an immediate one (SIGQUIT) if that takes over 60 s.
stop_postgres() {
  [ -n "$PG_PID" ] || return 0
  local sig
  for sig in INT QUIT; do
    kill -"$sig" "$PG_PID" 2>/dev/null || true
    for _ in $(seq 600); do
      kill -0 "$PG_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$PG_PID" 2>/dev/null || break
  done
  wait "$PG_PID" 2>/dev/null || true
  PG_PID=""
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

# ---------------------------------------------------------------- PostgreSQL
# --database postgres: a throwaway PostgreSQL of the script's own, like the
# tests' (tests/common/pg.rs): initdb in a temporary directory, as the
# postgres user when run as root (PostgreSQL refuses root), listening on a
# unix socket in that directory only; stopped and removed on exit.
PG_BIN=""
# find_postgres: the directory with initdb, postgres and psql ($PATH, else
# the newest /usr/lib/postgresql/VERSION/bin).
find_postgres() {
  local d
  for d in "$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")" \
      $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5nr); do
    if [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && [ -x "$d/psql" ]; then PG_BIN=$d; return 0; fi
  done
  return 1
}

need_postgres() {
  find_postgres && return 0
  [ "$INSTALL" = 1 ] || die "PostgreSQL is needed for --database postgres: apt-get install postgresql (or pass --install)"
  say "installing postgresql (apt-get)"
  apt_install postgresql
  # The package creates and may start a cluster of its own; no cluster ran
  # before (there were no binaries), so stop what this install started.
  if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters --no-header 2>/dev/null | awk '$4 == "online" {print $1, $2}' | while read -r v c; do
      say "stopping the PostgreSQL cluster $v/$c the package started"
      pg_ctlcluster "$v" "$c" stop || true
    done
  fi
  find_postgres || die "PostgreSQL binaries (initdb, postgres, psql) not found after installing postgresql"
}

# Settings for the benchmark. Durability as FreeRADIUS+sql and radgate have
# on SQLite: every commit's WAL flushed (fdatasync) before it returns. The
# rest keeps checkpoints out of the runs (the resets between runs
# checkpoint) and the databases in memory.
PG_SETTINGS=(fsync=on synchronous_commit=on full_page_writes=on
  shared_buffers=1GB max_connections=200 max_wal_size=8GB checkpoint_timeout=1h
  log_checkpoints=on)

# pg_sql DATABASE [psql args]: psql on the script's PostgreSQL, stopping at
# the first error.
pg_sql() {
  local db=$1; shift
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGDIR" -U postgres -d "$db" "$@"
}

start_postgres() {
  local as=() out
  PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/radgate-bench-pg.XXXXXX")
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "PostgreSQL refuses to run as root and there is no postgres user"
    chown postgres: "$PGDIR"
    as=(setpriv --reuid=postgres --regid=postgres --init-groups --)
  fi
  if ! out=$(cd "$PGDIR" && "${as[@]}" "$PG_BIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust \
      -E UTF8 --locale=C --no-sync 2>&1); then
    printf '%s\n' "$out" >&2; die "initdb failed"
  fi
  # Its own process (no wrapper left in between): $! is the postmaster.
  (cd "$PGDIR" && exec "${as[@]}" "$PG_BIN/postgres" -D "$PGDIR/data" -k "$PGDIR" \
    -c listen_addresses= "${PG_SETTINGS[@]/#/-c}") >"$WORK/postgres.log" 2>&1 &
  PG_PID=$!
  for _ in $(seq 300); do
    kill -0 "$PG_PID" 2>/dev/null || break
    if pg_sql postgres -c 'SELECT 1' >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  tail -20 "$WORK/postgres.log" >&2
  die "PostgreSQL did not start"
}

# pg_describe: the server's version and the settings that matter here.
pg_describe() {
  echo "postgresql: $(pg_sql postgres -Atc 'SHOW server_version'), data and unix socket in $PGDIR on $(df -PT "$PGDIR" | awk 'NR == 2 {print $1 " (" $2 ")"}'), listen_addresses = '' (no TCP)"
  echo "postgresql settings: $(pg_sql postgres -Atc "SELECT string_agg(name || ' = ' || current_setting(name), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', 'wal_level', 'commit_delay', 'shared_buffers', 'max_wal_size', 'checkpoint_timeout', 'max_connections', 'autovacuum')")"
}

# D (10s, 500ms, 2m, 1.5s) in milliseconds, for the time estimate.
duration_ms() {
  awk -v d="$1" 'BEGIN {
    u = d; sub(/^[0-9.]+/, "", u); v = substr(d, 1, length(d) - length(u)) + 0
    if (u == "ms") m = 1; else if (u == "m") m = 60000; else if (u == "h") m = 3600000; else m = 1000
    printf "%d\n", v * m
  }'
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
MARKDOWN="$OUT/summary.md"
ROUNDS_TSV="$OUT/rounds.tsv"
: >"$RESULTS"
printf 'round\tslot\ttarget\tthreads\tmode\tconcurrency\tcodes\trps\tp50_ms\tp90_ms\tp99_ms\tmax_ms\taccepts\trejects\ttimeouts\tbad\tgen_cpu_us_per_req\tlog_lines_per_req\tlog_bytes_per_req\n' >"$ROUNDS_TSV"

if has_target radgate || has_target freeradius-sql; then need_sqlite3; fi
HAVE_FR=0
if has_target freeradius-sql || has_target freeradius-files || has_target freeradius-pg; then
  if find_freeradius; then
    HAVE_FR=1
  else
    say "FreeRADIUS not installed: skipping the FreeRADIUS rows (apt-get install freeradius freeradius-utils, or pass --install)"
  fi
fi
if [ "$HAVE_FR" = 1 ] && has_target freeradius-pg && [ ! -f /usr/lib/freeradius/rlm_sql_postgresql.so ]; then
  if [ "$INSTALL" = 1 ]; then
    say "installing freeradius-postgresql (apt-get)"
    apt_install freeradius-postgresql
  fi
  if [ ! -f /usr/lib/freeradius/rlm_sql_postgresql.so ]; then
    say "rlm_sql_postgresql not installed: skipping freeradius-pg (apt-get install freeradius-postgresql, or pass --install)"
    TARGETS=$(printf '%s\n' $TARGETS | grep -vx freeradius-pg | tr '\n' ' ' | sed 's/ $//')
  fi
fi
if [ "$DATABASE" = postgres ]; then
  need_postgres
  start_postgres
fi

if [ "$SCALING" = 1 ]; then
  CONCURRENCY=$SCALING_CONCURRENCY
  ALL_CODES=$SCALING_CODES
else
  ALL_CODES=$CODES
fi
ACCT_LABEL=acct
[ "$INTERIMS" != 1 ] && ACCT_LABEL="acct-i$INTERIMS"

# ---------------------------------------------------------------- units
# A unit is one server setup: "target threads codes" (threads "-" but for
# FreeRADIUS; codes 0 for floor, which has none). Each round runs every unit
# once per mode, each time on a freshly started server.
UNITS=()
for c in $ALL_CODES; do
  has_target responder && UNITS+=("responder - $c")
  has_target radgate && UNITS+=("radgate - $c")
  has_target radgate-pg && UNITS+=("radgate-pg - $c")
  has_target radgate-pg2 && UNITS+=("radgate-pg2 - $c")
  if [ "$HAVE_FR" = 1 ]; then
    if has_target freeradius-sql; then for t in $FR_SQL_THREADS; do UNITS+=("freeradius-sql $t $c"); done; fi
    if has_target freeradius-files; then for t in $FR_FILES_THREADS; do UNITS+=("freeradius-files $t $c"); done; fi
    if has_target freeradius-pg; then for t in $FR_PG_THREADS; do UNITS+=("freeradius-pg $t $c"); done; fi
  fi
done
if has_target floor && has_mode acct; then UNITS+=("floor - 0"); fi
[ "${#UNITS[@]}" -gt 0 ] || die "nothing to run (targets: $TARGETS)"

# units_for MODE: the units that run MODE (floor runs acct only).
units_for() {
  local u
  for u in "${UNITS[@]}"; do
    if [ "${u%% *}" = floor ] && [ "$1" != acct ]; then continue; fi
    printf '%s\n' "$u"
  done
}

# Rough time: every run is warm-up + duration; restarts and seeding add more.
n_runs=0
for m in $MODES; do
  n_units=$(units_for "$m" | wc -l)
  for _ in $CONCURRENCY; do n_runs=$((n_runs + n_units)); done
done
n_runs=$((n_runs * ROUNDS))
n_starts=0
for m in $MODES; do n_starts=$((n_starts + $(units_for "$m" | wc -l))); done
n_starts=$((n_starts * ROUNDS))
est_s=$(( n_runs * ($(duration_ms "$DURATION") + $(duration_ms "$WARMUP")) / 1000 + n_starts * 2 ))

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
  if [ "$DATABASE" = postgres ]; then
    echo "database: postgres (radgate-pg, radgate-pg2 and freeradius-pg on one PostgreSQL, a database each: radgate_CODES, freeradius_CODES)"
    pg_describe
    echo "temporary directory (configs, logs, floor journal): $WORK on $(df -PT "$WORK" | awk 'NR == 2 {print $1 " (" $2 ")"}')"
  else
    echo "temporary directory (databases, floor journal): $WORK on $(df -PT "$WORK" | awk 'NR == 2 {print $1 " (" $2 ")"}')"
  fi
  echo "settings: rounds $ROUNDS, codes $ALL_CODES, concurrency $CONCURRENCY, modes $MODES, codes state $CODES_STATE, duration $DURATION, warmup $WARMUP, timeout $TIMEOUT, secret length ${#SECRET}, generator threads $GEN_THREADS, acct interims per session $INTERIMS, radgate UserLimit $USER_LIMIT${DEVICE_ARGS:+ (logins: device per code)}"
  if [ "$DATABASE" = postgres ]; then
    echo "targets: $TARGETS$([ "$HAVE_FR" = 1 ] && echo "; FreeRADIUS threads pg \"$FR_PG_THREADS\" (worker threads = SQL pool)")"
  else
    echo "targets: $TARGETS$([ "$HAVE_FR" = 1 ] && echo "; FreeRADIUS threads sql \"$FR_SQL_THREADS\" (worker threads = SQL pool), files \"$FR_FILES_THREADS\"")"
  fi
  echo "runs: $n_runs measured runs on $n_starts server starts; at least $((est_s / 60)) min"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

# ---------------------------------------------------------------- helpers
code_width() { local w=${#1}; [ "$w" -lt 6 ] && w=6; echo "$w"; }

# JSON field of the generator's one-line output (flat keys; latency keys are unique).
jf() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1" | head -1 | tr -d '"'; }

# The log files of the server being measured, and their sizes before a run.
SERVER_LOGS=()
log_sizes() { local f; for f in "${SERVER_LOGS[@]}"; do stat -c %s "$f" 2>/dev/null || echo 0; done; }
# log_growth SIZES...: "lines bytes" written to the logs since those sizes.
log_growth() {
  local i=0 f lines=0 bytes=0 before now
  for f in "${SERVER_LOGS[@]}"; do
    i=$((i + 1)); before=${!i}
    now=$(stat -c %s "$f" 2>/dev/null || echo 0)
    if [ "$now" -gt "$before" ]; then
      bytes=$((bytes + now - before))
      lines=$((lines + $(tail -c +"$((before + 1))" "$f" | wc -l)))
    fi
  done
  echo "$lines $bytes"
}

header_printed=0
print_row() {
  if [ "$header_printed" = 0 ]; then
    printf '%-5s %-16s %4s %-9s %5s %8s %9s %8s %8s %8s %8s %9s %7s %8s %4s %6s %8s\n' \
      round target thr mode conc codes req/s p50ms p90ms p99ms maxms accepts rejects timeouts bad gen-us log/req
    header_printed=1
  fi
  printf '%-5s %-16s %4s %-9s %5s %8s %9.0f %8.3f %8.3f %8.3f %8.3f %9s %7s %8s %4s %6.1f %8.2f\n' "$@"
}

ROUND=1
SLOT=0
# record TARGET THREADS MODE CONC CODES JSON LOG_BEFORE...: one run's row.
record() {
  local target=$1 threads=$2 mode=$3 conc=$4 codes=$5 json=$6 growth lines bytes n
  shift 6
  growth=$(log_growth "$@"); lines=${growth% *}; bytes=${growth#* }
  n=$(( $(jf "$json" sent) + $(jf "$json" warmup_sent) ))
  [ "$n" -gt 0 ] || n=1
  # The row's label names a workload other than the default one.
  [ "$mode" = acct ] && mode=$ACCT_LABEL
  printf '{"round":%s,"slot":%s,"target":"%s","threads":"%s","seeded_codes":%s,"result":%s}\n' \
    "$ROUND" "$SLOT" "$target" "$threads" "$codes" "$json" >>"$RESULTS"
  local row=("$ROUND" "$SLOT" "$target" "$threads" "$mode" "$conc" "$codes" "$(jf "$json" rps)"
    "$(jf "$json" p50)" "$(jf "$json" p90)" "$(jf "$json" p99)" "$(jf "$json" max)"
    "$(jf "$json" accepts)" "$(jf "$json" rejects)" "$(jf "$json" timeouts)" "$(jf "$json" bad)"
    "$(jf "$json" generator_cpu_us_per_request | sed 's/^null$/0/')"
    "$(awk -v l="$lines" -v n="$n" 'BEGIN {printf "%.3f", l / n}')"
    "$(awk -v b="$bytes" -v n="$n" 'BEGIN {printf "%.1f", b / n}')")
  (IFS=$'\t'; echo "${row[*]}") >>"$ROUNDS_TSV"
  print_row "${row[0]}" "${row[@]:2:15}" "${row[17]}"
}

# run_load TARGET THREADS MODE CONCURRENCY CODES SERVER
run_load() {
  local target=$1 threads=$2 mode=$3 conc=$4 codes=$5 server=$6 json before
  mapfile -t before < <(log_sizes)
  if ! json=$("$BENCH" load --server "$server" --secret "$SECRET" --mode "$mode" \
      --codes "$codes" --code-prefix "$PREFIX" --code-width "$(code_width $((codes - 1)))" \
      --concurrency "$conc" --duration "$DURATION" --warmup "$WARMUP" --timeout "$TIMEOUT" \
      --threads "$GEN_THREADS" --interims "$INTERIMS" "${DEVICE_ARGS[@]}" --json); then
    say "$target $mode: the load generator failed"
    return 0
  fi
  record "$target" "$threads" "$mode" "$conc" "$codes" "$json" "${before[@]}"
}

# ready SERVER MODE CODES [TRIES]: a few requests all answered with an accept.
ready() {
  local server=$1 mode=$2 codes=$3 tries=${4:-50}
  for _ in $(seq "$tries"); do
    if "$BENCH" load --server "$server" --secret "$SECRET" --mode "$mode" --codes "$codes" \
        --code-prefix "$PREFIX" --code-width "$(code_width $((codes - 1)))" \
        --requests 6 --concurrency 2 --warmup 0s --duration 5s --timeout 300ms "${DEVICE_ARGS[@]}" \
        --strict --json >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

# ---------------------------------------------------------------- targets
serve_responder() {
  local codes=$1 mode=$2 dir="$WORK/responder" ports server pid conc
  mkdir -p "$dir"
  mapfile -t ports < <("$BENCH" free-ports 2)
  "$BENCH" responder --auth-listen "127.0.0.1:${ports[0]}" --acct-listen "127.0.0.1:${ports[1]}" \
    --secret "$SECRET" --max-duration 1h >"$dir/out.log" 2>&1 &
  pid=$!; PIDS+=("$pid")
  SERVER_LOGS=("$dir/out.log")
  server="127.0.0.1:${ports[0]}"; [ "$mode" = acct ] && server="127.0.0.1:${ports[1]}"
  if ready "$server" "$mode" "$codes"; then
    for conc in $CONCURRENCY; do run_load responder - "$mode" "$conc" "$codes" "$server"; done
  else
    say "responder did not answer"
  fi
  stop_pid "$pid"
}

# The fsync floor: in the directory of radgate's databases (the same
# filesystem), at each concurrency, for as long as a load run.
serve_floor() {
  local dir="$WORK/floor" conc json before
  mkdir -p "$dir"
  SERVER_LOGS=()
  for conc in $CONCURRENCY; do
    before=()
    if ! json=$("$BENCH" fsync-floor --dir "$dir" --concurrency "$conc" --duration "$DURATION" \
        --warmup "$WARMUP" --record-bytes "$FLOOR_RECORD_BYTES" --threads "$GEN_THREADS" --json); then
      say "floor: radgate-bench fsync-floor failed"
      continue
    fi
    record floor - acct "$conc" 0 "$json" "${before[@]}"
  done
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
  # radgate creates and migrates its database (a write command creates a
  # missing one); the token it creates for that is deleted below.
  if ! "$RADGATE" --config "$dir/radgate.toml" token create --code BENCHSEEDINIT --minutes 1 \
      >/dev/null 2>"$dir/seed.log"; then
    cat "$dir/seed.log" >&2; die "radgate could not create its database"
  fi
  sqlite3 "$dir/radgate.db" <<SQL >/dev/null
PRAGMA busy_timeout = 5000;
BEGIN;
DELETE FROM access_tokens WHERE access_code = 'BENCHSEEDINIT';
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $codes - 1)
INSERT INTO access_tokens (unique_id, business_id, access_code, code_key, description,
    minutes_included, seconds_used, user_limit, created_on, updated_on, updated_by)
SELECT lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4'
         || substr(lower(hex(randomblob(2))), 2) || '-'
         || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2)
         || '-' || lower(hex(randomblob(6))),
       0, printf('${PREFIX}%0${width}d', i), printf('${PREFIX}%0${width}d', i), 'radgate-bench',
       1000000, 0, $USER_LIMIT_SQL, CAST(strftime('%s', 'now') AS INTEGER),
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
# WAL copied back and the file on disk, so that every run starts alike.
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

# start_radgate DIR [NAME]: radgate serve with the chosen logging, with
# DIR/NAME.toml (default radgate) and its log in DIR/NAME.log; its PID in PIDS.
start_radgate() {
  local dir=$1 name=${2:-radgate}
  if [ "$RADGATE_LOG_SET" = 1 ]; then
    RADGATE_LOG=$RADGATE_LOG_FILTER "$RADGATE" --config "$dir/$name.toml" serve >"$dir/$name.log" 2>&1 &
  else
    env -u RADGATE_LOG "$RADGATE" --config "$dir/$name.toml" serve >"$dir/$name.log" 2>&1 &
  fi
  PIDS+=("$!")
}

# serve_radgate CODES MODE: reset the database, start radgate, run MODE, stop it.
serve_radgate() {
  local codes=$1 mode=$2 dir="$WORK/radgate-$1" auth acct server pid conc
  auth=$(cat "$dir/auth"); acct=$(cat "$dir/acct")
  reset_radgate "$dir"
  start_radgate "$dir"
  pid=${PIDS[${#PIDS[@]}-1]}
  SERVER_LOGS=("$dir/radgate.log")
  if ! ready "$auth" auth-pap "$codes"; then
    say "radgate did not answer on $auth; log:"; tail -20 "$dir/radgate.log" >&2
    stop_pid "$pid"; return 0
  fi
  server=$auth
  if [ "$mode" = acct ]; then
    server=$acct
    if ! ready "$acct" acct "$codes" 3; then
      say "radgate: no Accounting-Response on $acct (accounting not implemented in this build?): skipping radgate accounting"
      stop_pid "$pid"; return 0
    fi
  fi
  for conc in $CONCURRENCY; do run_load radgate - "$mode" "$conc" "$codes" "$server"; done
  stop_pid "$pid"
}

# ---------------------------------------------------------------- radgate on PostgreSQL
# radgate-pg and radgate-pg2 share one database per codes value (radgate_CODES),
# reset before every run; node 1 (radgate.toml) serves radgate-pg, nodes 1
# and 2 (radgate2.toml) radgate-pg2.

# The codes' usage as seeded, in PostgreSQL's SQL (see used_sql).
used_sql_pg() {
  if [ "$CODES_STATE" = used ]; then
    echo "UPDATE access_tokens SET first_used_on = floor(extract(epoch FROM now()))::bigint,
            last_access = floor(extract(epoch FROM now()))::bigint;"
  fi
}

# prepare_radgate_pg CODES: the database, both nodes' configurations and the
# seeded codes, in $WORK/radgate-pg-CODES.
prepare_radgate_pg() {
  local codes=$1 dir="$WORK/radgate-pg-$1" db="radgate_$1" ports width n node auth acct
  width=$(code_width $((codes - 1)))
  mkdir -p "$dir"
  pg_sql postgres -c "CREATE DATABASE $db" >/dev/null
  echo "$db" >"$dir/dbname"
  mapfile -t ports < <("$BENCH" free-ports 4)
  echo "127.0.0.1:${ports[0]}" >"$dir/auth"; echo "127.0.0.1:${ports[1]}" >"$dir/acct"
  echo "127.0.0.1:${ports[2]}" >"$dir/auth2"; echo "127.0.0.1:${ports[3]}" >"$dir/acct2"
  for node in radgate radgate2; do
    if [ "$node" = radgate ]; then auth=${ports[0]}; acct=${ports[1]}; else auth=${ports[2]}; acct=${ports[3]}; fi
    cat >"$dir/$node.toml" <<EOF
[server]
auth_listen = "127.0.0.1:$auth"
acct_listen = "127.0.0.1:$acct"

[database]
url = "postgres://postgres@/$db?host=$PGDIR"

[[client]]
name = "bench"
address = "127.0.0.1"
secret = "$SECRET"
EOF
  done
  say "radgate-pg: seeding $codes codes into PostgreSQL database $db"
  # radgate creates its schema (a write command sets up an empty database);
  # the token it creates for that is deleted below. Then the codes as on
  # SQLite (seed_radgate), in one transaction.
  if ! "$RADGATE" --config "$dir/radgate.toml" token create --code BENCHSEEDINIT --minutes 1 \
      >/dev/null 2>"$dir/seed.log"; then
    cat "$dir/seed.log" >&2; die "radgate could not create its database on PostgreSQL"
  fi
  pg_sql "$db" >/dev/null <<SQL
BEGIN;
DELETE FROM access_tokens WHERE access_code = 'BENCHSEEDINIT';
INSERT INTO access_tokens (unique_id, business_id, access_code, code_key, description,
    minutes_included, seconds_used, user_limit, created_on, updated_on, updated_by)
SELECT gen_random_uuid()::text, 0, c, c, 'radgate-bench', 1000000, 0, $USER_LIMIT_SQL,
       floor(extract(epoch FROM now()))::bigint, floor(extract(epoch FROM now()))::bigint, 'bench.sh'
FROM (SELECT '${PREFIX}' || lpad(i::text, $width, '0') AS c FROM generate_series(0, $codes - 1) AS i) AS n;
$(used_sql_pg)
COMMIT;
VACUUM (ANALYZE) access_tokens;
CHECKPOINT;
SQL
  n=$(pg_sql "$db" -Atc 'SELECT count(*) FROM access_tokens')
  [ "$n" = "$codes" ] || die "radgate-pg: seeded $n codes, expected $codes"
  "$RADGATE" --config "$dir/radgate.toml" token show "${PREFIX}$(printf "%0${width}d" 0)" --format json >/dev/null \
    || die "radgate cannot read the seeded codes on PostgreSQL"
}

# reset_radgate_pg DIR: the database (no node running) back to its seeded
# state, as reset_radgate does on SQLite: no sessions, nothing charged, the
# codes' usage as seeded; then vacuumed, analysed and checkpointed, so that
# every run starts alike (no dead rows, no checkpoint owed).
reset_radgate_pg() {
  pg_sql "$(cat "$1/dbname")" >/dev/null <<SQL
BEGIN;
TRUNCATE sessions;
UPDATE access_tokens SET seconds_used = 0, first_used_on = NULL, last_access = NULL, spent_on = NULL
WHERE seconds_used <> 0 OR first_used_on IS NOT NULL OR last_access IS NOT NULL OR spent_on IS NOT NULL;
$(used_sql_pg)
COMMIT;
VACUUM (ANALYZE) access_tokens, sessions;
CHECKPOINT;
SQL
}

# serve_radgate_pg CODES MODE NODES: reset the database, start NODES (1 or
# 2) radgate nodes on it, run MODE with the load split over them, stop them.
serve_radgate_pg() {
  local codes=$1 mode=$2 nodes=$3 dir="$WORK/radgate-pg-$1" target=radgate-pg
  local names=(radgate) pids=() servers=() name auth server pid conc
  if [ "$nodes" = 2 ]; then target=radgate-pg2; names=(radgate radgate2); fi
  reset_radgate_pg "$dir"
  SERVER_LOGS=()
  for name in "${names[@]}"; do
    start_radgate "$dir" "$name"
    pids+=("${PIDS[${#PIDS[@]}-1]}")
    SERVER_LOGS+=("$dir/$name.log")
  done
  for name in "${names[@]}"; do
    # radgate -> auth, acct; radgate2 -> auth2, acct2.
    auth=$(cat "$dir/auth${name#radgate}")
    server=$auth
    [ "$mode" = acct ] && server=$(cat "$dir/acct${name#radgate}")
    if ! ready "$auth" auth-pap "$codes"; then
      say "$target: $name did not answer on $auth; log:"; tail -20 "$dir/$name.log" >&2
      for pid in "${pids[@]}"; do stop_pid "$pid"; done
      return 0
    fi
    if [ "$mode" = acct ] && ! ready "$server" acct "$codes" 3; then
      say "$target: no Accounting-Response on $server: skipping its accounting"
      for pid in "${pids[@]}"; do stop_pid "$pid"; done
      return 0
    fi
    servers+=("$server")
  done
  for conc in $CONCURRENCY; do
    if [ "$conc" -lt "$nodes" ]; then
      say "$target: concurrency $conc is below its $nodes nodes: skipped"
      continue
    fi
    run_load "$target" - "$mode" "$conc" "$codes" "$(IFS=,; echo "${servers[*]}")"
  done
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
}

# prepare_freeradius KIND CODES: a private raddb and the seeded codes (the
# SQL database or the users file) in $WORK/freeradius-KIND-CODES. KIND sql
# (SQLite), files, or pg (PostgreSQL: the database freeradius_CODES).
prepare_freeradius() {
  local kind=$1 codes=$2 dir="$WORK/freeradius-$1-$2" width queries
  width=$(code_width $((codes - 1)))
  say "freeradius-$kind: preparing $codes codes in $dir"
  mkdir -p "$dir/log" "$dir/run"
  cp -rL /etc/freeradius/3.0 "$dir/raddb"
  rm -rf "$dir/raddb/mods-enabled" "$dir/raddb/sites-enabled"
  mkdir -p "$dir/raddb/mods-enabled" "$dir/raddb/sites-enabled"
  # always (ok, fail, ...) and expr (%{tolower:}, used by the SQL queries) as Debian ships them.
  cp "$dir/raddb/mods-available/always" "$dir/raddb/mods-available/expr" "$dir/raddb/mods-enabled/"
  if [ "$kind" = sql ]; then
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
  elif [ "$kind" = pg ]; then
    queries="$dir/raddb/mods-config/sql/main/postgresql/queries.conf"
    # The sqlite queries' simul_verify_query bug (above): Debian's 3.2.1
    # postgresql queries compare UserName with %{SQL-User-Name} already.
    # Fixed the same way should a version have it.
    sed -i "/^simul_verify_query/,/[^\\]\"\$/ s/UserName *= *'%{\${group_attribute}}'/UserName = '%{SQL-User-Name}'/I" "$queries"
    if sed -n "/^simul_verify_query/,/[^\\]\"\$/p" "$queries" | grep -q 'group_attribute'; then
      die "could not fix simul_verify_query in $queries"
    fi
    sed -n "/^simul_verify_query/,/[^\\]\"\$/p" "$queries" | grep -qi "UserName *= *'%{SQL-User-Name}'" \
      || die "simul_verify_query in $queries does not select the user's sessions"
    local db="freeradius_$codes"
    echo "$db" >"$dir/dbname"
    pg_sql postgres -c "CREATE DATABASE $db" >/dev/null
    pg_sql "$db" -f "$dir/raddb/mods-config/sql/main/postgresql/schema.sql" >/dev/null
    pg_sql "$db" >/dev/null <<SQL
BEGIN;
CREATE TEMPORARY TABLE n AS
SELECT '${PREFIX}' || lpad(i::text, $width, '0') AS c FROM generate_series(0, $codes - 1) AS i;
INSERT INTO radcheck (username, attribute, op, value)
SELECT c, 'Cleartext-Password', ':=', c FROM n
UNION ALL
SELECT c, 'Simultaneous-Use', ':=', '1' FROM n;
INSERT INTO radreply (username, attribute, op, value)
SELECT c, 'Session-Timeout', ':=', '3600' FROM n
UNION ALL
SELECT c, 'Acct-Interim-Interval', ':=', '300' FROM n;
COMMIT;
VACUUM (ANALYZE);
CHECKPOINT;
SQL
  else
    seq 0 $((codes - 1)) | awk -v p="$PREFIX" -v w="$width" '{
      c = sprintf("%s%0" w "d", p, $1)
      printf "%s\tCleartext-Password := \"%s\"\n\tSession-Timeout := 3600,\n\tAcct-Interim-Interval := 300\n\n", c, c
    }' >"$dir/users"
  fi
  sync  # as for radgate: the seeded files on disk before the load
}

# configure_freeradius KIND DIR THREADS AUTH_PORT ACCT_PORT: the templates
# filled in for one start.
configure_freeradius() {
  local kind=$1 dir=$2 threads=$3 auth_port=$4 acct_port=$5
  local subst=(-e "s|@RADDB@|$dir/raddb|g" -e "s|@LOG_DIR@|$dir/log|g" -e "s|@RUN_DIR@|$dir/run|g"
    -e "s|@THREADS@|$threads|g" -e "s|@MAX_REQUESTS@|1048576|g" -e "s|@SECRET@|$SECRET|g"
    -e "s|@AUTH_PORT@|$auth_port|g" -e "s|@ACCT_PORT@|$acct_port|g" -e "s|@RECV_BUFF@|$RECV_BUFF|g"
    -e "s|@FR_DB@|$dir/radius.db|g" -e "s|@BUSY_TIMEOUT@|5000|g" -e "s|@USERS_FILE@|$dir/users|g"
    -e "s|@LOG_AUTH@|$FR_LOG_AUTH|g")
  if [ "$kind" = pg ]; then
    subst+=(-e "s|@PG_SOCKET_DIR@|$PGDIR|g" -e "s|@PG_DB@|$(cat "$dir/dbname")|g")
  fi
  sed "${subst[@]}" "$TEMPLATES/radiusd.conf" >"$dir/raddb/radiusd.conf"
  sed "${subst[@]}" "$TEMPLATES/clients.conf" >"$dir/raddb/clients.conf"
  sed "${subst[@]}" "$TEMPLATES/mods/pap" >"$dir/raddb/mods-enabled/pap"
  sed "${subst[@]}" "$TEMPLATES/mods/chap" >"$dir/raddb/mods-enabled/chap"
  sed "${subst[@]}" "$TEMPLATES/sites/bench-$kind" >"$dir/raddb/sites-enabled/bench"
  if [ "$kind" = sql ]; then
    sed "${subst[@]}" "$TEMPLATES/mods/sql" >"$dir/raddb/mods-enabled/sql"
  elif [ "$kind" = pg ]; then
    sed "${subst[@]}" "$TEMPLATES/mods/sql-pg" >"$dir/raddb/mods-enabled/sql"
  else
    sed "${subst[@]}" "$TEMPLATES/mods/files" >"$dir/raddb/mods-enabled/files"
  fi
}

# reset_freeradius DIR: FreeRADIUS+sql's database (of a stopped server) back
# to its seeded state: no accounting rows, no login log, WAL checkpointed.
# On PostgreSQL (DIR/dbname) the same, vacuumed and analysed as radgate's.
reset_freeradius() {
  if [ -f "$1/dbname" ]; then
    pg_sql "$(cat "$1/dbname")" >/dev/null <<SQL
TRUNCATE radacct, radpostauth;
VACUUM (ANALYZE) radacct, radpostauth;
CHECKPOINT;
SQL
    return 0
  fi
  [ -f "$1/radius.db" ] || return 0
  sqlite3 "$1/radius.db" <<SQL >/dev/null
PRAGMA busy_timeout = 5000;
BEGIN;
DELETE FROM radacct;
DELETE FROM radpostauth;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
  sync
}

# radclient_code AUTH|ACCT PORT ATTRS: prints the reply code name.
radclient_code() {
  local kind=$1 port=$2 attrs=$3
  printf '%s\n' "$attrs" | radclient -r 1 -t 3 -x "127.0.0.1:$port" "$kind" "$SECRET" 2>&1 \
    | sed -n 's/^Received \([A-Za-z-]*\) .*/\1/p' | head -1
}

# Simultaneous-Use = 1 must reject a second device while a session is open.
# check_simultaneous_use DIR AUTH_PORT ACCT_PORT WIDTH KIND
check_simultaneous_use() {
  local dir=$1 auth_port=$2 acct_port=$3 width=$4 code r1 r2 r3 r4
  code="${PREFIX}$(printf "%0${width}d" 0)"
  local a="User-Name = \"$code\", User-Password = \"$code\", NAS-IP-Address = 127.0.0.1"
  local s="User-Name = \"$code\", Acct-Session-Id = \"bench-simul-check\", NAS-IP-Address = 127.0.0.1, NAS-Port = 1, Calling-Station-Id = \"02:00:5E:00:00:01\", Framed-IP-Address = 198.18.255.1"
  r1=$(radclient_code auth "$auth_port" "$a, Calling-Station-Id = \"02:00:5E:00:00:01\"")
  r2=$(radclient_code acct "$acct_port" "$s, Acct-Status-Type = Start")
  r3=$(radclient_code auth "$auth_port" "$a, Calling-Station-Id = \"02:00:5E:00:00:02\"")
  r4=$(radclient_code acct "$acct_port" "$s, Acct-Status-Type = Stop, Acct-Session-Time = 10")
  if [ -f "$dir/dbname" ]; then
    pg_sql "$(cat "$dir/dbname")" >/dev/null -c "DELETE FROM radacct WHERE acctsessionid = 'bench-simul-check'" -c "DELETE FROM radpostauth"
  else
    sqlite3 "$dir/radius.db" >/dev/null "PRAGMA busy_timeout = 5000; DELETE FROM radacct WHERE acctsessionid = 'bench-simul-check'; DELETE FROM radpostauth;"
  fi
  if [ "$r1" = Access-Accept ] && [ "$r2" = Accounting-Response ] && [ "$r3" = Access-Reject ] && [ "$r4" = Accounting-Response ]; then
    return 0
  fi
  say "freeradius-$5 Simultaneous-Use check: first device $r1, Start $r2, second device $r3, Stop $r4"
  return 1
}

# serve_freeradius KIND THREADS CODES MODE: reset, configure, start, run MODE, stop.
serve_freeradius() {
  local kind=$1 threads=$2 codes=$3 mode=$4 dir="$WORK/freeradius-$1-$3" ports auth acct server pid conc
  mapfile -t ports < <("$BENCH" free-ports 2)
  auth="127.0.0.1:${ports[0]}"; acct="127.0.0.1:${ports[1]}"
  reset_freeradius "$dir"
  configure_freeradius "$kind" "$dir" "$threads" "${ports[0]}" "${ports[1]}"
  if [ ! -f "$dir/checked-$threads" ]; then
    if ! "$FREERADIUS" -C -l stdout -d "$dir/raddb" >"$dir/log/check.log" 2>&1; then
      say "freeradius-$kind: configuration check failed:"; tail -20 "$dir/log/check.log" >&2
      return 0
    fi
    : >"$dir/checked-$threads"
  fi
  : >"$dir/log/radius.log"
  "$FREERADIUS" -f -d "$dir/raddb" >"$dir/log/console.log" 2>&1 &
  pid=$!; PIDS+=("$pid")
  SERVER_LOGS=("$dir/log/radius.log" "$dir/log/console.log")
  if ! ready "$auth" auth-pap "$codes" 150; then
    say "freeradius-$kind ($threads threads) did not answer on $auth; log:"
    tail -20 "$dir/log/radius.log" "$dir/log/console.log" >&2 2>/dev/null || true
    stop_pid "$pid"; return 0
  fi
  if [ "$kind" != files ] && ! check_simultaneous_use "$dir" "${ports[0]}" "${ports[1]}" "$(code_width $((codes - 1)))" "$kind"; then
    say "freeradius-$kind: Simultaneous-Use = 1 did not reject a second device: not measuring it"
    stop_pid "$pid"; return 0
  fi
  server=$auth; [ "$mode" = acct ] && server=$acct
  for conc in $CONCURRENCY; do run_load "freeradius-$kind" "$threads" "$mode" "$conc" "$codes" "$server"; done
  stop_pid "$pid"
}

# ---------------------------------------------------------------- logging
# What each server logs per request and how durable its accounting is, from
# the configuration actually used; measured log lines per request are in
# rounds.tsv and ratios.txt.
describe_servers() {
  local def dir f mods site
  echo "per-request logging and durability:"
  if has_target radgate; then
    def=$(grep -rhs 'let default = if serve {' "$ROOT/src" | sed -n 's/.*let default = if serve { "\([^"]*\)" }.*/\1/p' | head -1)
    if [ "$RADGATE_LOG_SET" = 1 ]; then
      echo "  radgate: RADGATE_LOG=$RADGATE_LOG_FILTER (--radgate-log), to a file (stderr)"
    else
      echo "  radgate: RADGATE_LOG unset, so radgate's built-in default for serve applies (${def:-unknown} in the source tree); to a file (stderr)"
    fi
    dir="$WORK/radgate-${ALL_CODES%% *}"
    echo "  radgate: database $("$RADGATE" --config "$dir/radgate.toml" check-config 2>/dev/null | sed -n 's/^database: *//p' | sed "s|sqlite://$WORK/|sqlite://TMP/|"); accounting answered after its group commit's fsync"
  fi
  if has_target radgate-pg || has_target radgate-pg2; then
    def=$(grep -rhs 'let default = if serve {' "$ROOT/src" | sed -n 's/.*let default = if serve { "\([^"]*\)" }.*/\1/p' | head -1)
    if [ "$RADGATE_LOG_SET" = 1 ]; then
      echo "  radgate-pg, radgate-pg2: RADGATE_LOG=$RADGATE_LOG_FILTER (--radgate-log), to a file (stderr) per node"
    else
      echo "  radgate-pg, radgate-pg2: RADGATE_LOG unset, so radgate's built-in default for serve applies (${def:-unknown} in the source tree); to a file (stderr) per node"
    fi
    dir="$WORK/radgate-pg-${ALL_CODES%% *}"
    echo "  radgate-pg, radgate-pg2: database $("$RADGATE" --config "$dir/radgate.toml" check-config 2>/dev/null | sed -n 's/^database: *//p' | sed -e "s|$PGDIR|PGDIR|" -e 's/ (synchronous=[^)]*)$//'); radgate-pg2: two nodes on it, the generator's requests in flight split evenly (each accounting session on one node); every answer (Access-Accept too) after the commit of its batch's transaction, synchronous_commit = $(pg_sql postgres -Atc 'SHOW synchronous_commit') (WAL flushed)"
  fi
  if [ "$HAVE_FR" = 1 ]; then
    for f in sql files pg; do
      has_target "freeradius-$f" || continue
      dir="$WORK/freeradius-$f-${ALL_CODES%% *}"
      configure_freeradius "$f" "$dir" 1 1 2
      echo "  freeradius-$f: log { $(awk '/^log \{/ {on = 1; next} on && /^\}/ {on = 0} on && $1 ~ /^(destination|auth|auth_badpass|auth_goodpass)$/ {printf "%s%s = %s", sep, $1, $3; sep = ", "}' "$dir/raddb/radiusd.conf") }"
      mods=$(ls "$dir/raddb/mods-enabled" | tr '\n' ' ' | sed 's/ $//')
      site="$dir/raddb/sites-enabled/bench"
      echo "  freeradius-$f: modules enabled: $mods; detail/linelog: $(if ls "$dir/raddb/mods-enabled" | grep -qE '^(detail|linelog)' || sed 's/#.*//' "$site" | grep -qwE 'detail|linelog'; then echo 'IN USE'; else echo 'none'; fi); post-auth: $(if sed 's/#.*//' "$site" | grep -q 'post-auth'; then echo 'IN USE'; else echo 'none (no login log)'; fi)"
      if [ "$f" = sql ]; then
        echo "  freeradius-sql: sql logfile: $(sed 's/#.*//' "$dir/raddb/mods-enabled/sql" | grep -qw logfile && echo 'IN USE' || echo none); accounting: one SQLite transaction per packet into radacct (WAL), $(fr_sqlite_sync "$dir")"
      elif [ "$f" = pg ]; then
        echo "  freeradius-pg: sql logfile: $(sed 's/#.*//' "$dir/raddb/mods-enabled/sql" | grep -qw logfile && echo 'IN USE' || echo none); rlm_sql_postgresql, database $(cat "$dir/dbname") on the same PostgreSQL (unix socket); accounting: one PostgreSQL transaction per packet into radacct (autocommit), synchronous_commit = $(pg_sql postgres -Atc 'SHOW synchronous_commit') (WAL flushed before the answer)"
      else
        echo "  freeradius-files: accounting answered without storing anything (accounting { ok })"
      fi
    done
  fi
  if has_target floor && has_mode acct; then
    echo "  floor: no log; ${FLOOR_RECORD_BYTES}-byte records, one pwrite + fdatasync per group of waiting requests, preallocated journal in $WORK/floor"
  fi
  if [ "$DATABASE" = postgres ]; then
    echo "  PostgreSQL (shared by the pg targets, started by this script; its own log, errors and checkpoints only, is no target's): $(pg_describe | sed -n 's/^postgresql settings: //p')"
  fi
}

# The synchronous setting FreeRADIUS's SQLite connections get: rlm_sql_sqlite
# sets no PRAGMA, so it is the library's default, read here through the
# sqlite3 tool when it uses the same library.
fr_sqlite_sync() {
  local dir=$1 mod=/usr/lib/freeradius/rlm_sql_sqlite.so lib_fr="" lib_cli v
  if [ -f "$mod" ]; then lib_fr=$(ldd "$mod" 2>/dev/null | awk '/libsqlite3/ {print $3}'); fi
  lib_cli=$(ldd "$(command -v sqlite3)" 2>/dev/null | awk '/libsqlite3/ {print $3}')
  if [ -n "$lib_fr" ] && [ "$lib_fr" = "$lib_cli" ]; then
    v=$(sqlite3 "$dir/sync-probe.db" 'PRAGMA journal_mode = WAL;' 'PRAGMA synchronous;' 2>/dev/null | tail -1)
    rm -f "$dir"/sync-probe.db*
    case "$v" in 0) v=OFF ;; 1) v=NORMAL ;; 2) v=FULL ;; 3) v=EXTRA ;; *) v="unknown ($v)" ;; esac
    echo "synchronous = $v (the default of $lib_fr in WAL mode; rlm_sql_sqlite sets no PRAGMA)"
  else
    echo "synchronous: the default of FreeRADIUS's libsqlite3 (not checked: the sqlite3 tool uses another library)"
  fi
}

# ---------------------------------------------------------------- run
for c in $ALL_CODES; do
  has_target radgate && prepare_radgate "$c"
  if has_target radgate-pg || has_target radgate-pg2; then prepare_radgate_pg "$c"; fi
  if [ "$HAVE_FR" = 1 ]; then
    has_target freeradius-sql && prepare_freeradius sql "$c"
    has_target freeradius-files && prepare_freeradius files "$c"
    has_target freeradius-pg && prepare_freeradius pg "$c"
  fi
done
describe_servers >>"$OUT/machine.txt"
describe_servers >&2

# unit_label "TARGET THREADS CODES": freeradius-sql(8), radgate@1000000 (--scaling).
unit_label() {
  local target threads codes label
  read -r target threads codes <<<"$1"
  label=$target
  [ "$threads" != - ] && label="$label($threads)"
  case "$ALL_CODES" in *" "*) [ "$codes" != 0 ] && label="$label@$codes" ;; esac
  printf '%s\n' "$label"
}

# serve_unit "TARGET THREADS CODES" MODE
serve_unit() {
  local target threads codes
  read -r target threads codes <<<"$1"
  case "$target" in
    responder) serve_responder "$codes" "$2" ;;
    radgate) serve_radgate "$codes" "$2" ;;
    radgate-pg) serve_radgate_pg "$codes" "$2" 1 ;;
    radgate-pg2) serve_radgate_pg "$codes" "$2" 2 ;;
    freeradius-sql) serve_freeradius sql "$threads" "$codes" "$2" ;;
    freeradius-files) serve_freeradius files "$threads" "$codes" "$2" ;;
    freeradius-pg) serve_freeradius pg "$threads" "$codes" "$2" ;;
    floor) serve_floor ;;
  esac
}

for r in $(seq "$ROUNDS"); do
  ROUND=$r
  SLOT=0
  for mode in $MODES; do
    mapfile -t units < <(units_for "$mode")
    n=${#units[@]}
    [ "$n" -gt 0 ] || continue
    # The order rotates by n/rounds places per round (at least one), so each
    # target's place moves across the whole round over the rounds.
    step=$((n / ROUNDS)); [ "$step" -lt 1 ] && step=1
    off=$(( (r - 1) * step % n ))
    order=()
    for i in $(seq 0 $((n - 1))); do order+=("${units[$(( (off + i) % n ))]}"); done
    say "round $r of $ROUNDS, $mode: $(for u in "${order[@]}"; do unit_label "$u"; done | paste -sd, - | sed 's/,/, /g')"
    for u in "${order[@]}"; do
      SLOT=$((SLOT + 1))
      serve_unit "$u" "$mode"
    done
  done
done

# ---------------------------------------------------------------- summary
# The targets' order in the tables; the ratios: "BASE:OTHER,OTHER,..." (each
# BASE / each OTHER, in that order); the targets with a scaling line.
if [ "$DATABASE" = postgres ]; then
  TARGET_ORDER="radgate-pg radgate-pg2 responder freeradius-pg floor"
  RATIO_PLAN="radgate-pg:freeradius-pg,responder,floor radgate-pg2:freeradius-pg,radgate-pg,responder,floor"
  SCALING_TARGETS="radgate-pg radgate-pg2"
else
  TARGET_ORDER="radgate responder freeradius-sql freeradius-files floor"
  RATIO_PLAN="radgate:responder,freeradius-sql,freeradius-files,floor"
  SCALING_TARGETS="radgate"
fi
# Median of a[1..n] (awk), shared by the programs below.
AWK_MEDIAN='
function median(a, n,    i, j, t, b) {
  for (i = 1; i <= n; i++) b[i] = a[i]
  for (i = 2; i <= n; i++) for (j = i; j > 1 && b[j - 1] > b[j]; j--) { t = b[j]; b[j] = b[j - 1]; b[j - 1] = t }
  return (n % 2) ? b[(n + 1) / 2] : (b[n / 2] + b[n / 2 + 1]) / 2
}
function amin(a, n,    i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] < m) m = a[i]; return m }
function amax(a, n,    i, m) { m = a[1]; for (i = 2; i <= n; i++) if (a[i] > m) m = a[i]; return m }
# Sort keys: the order of modes and targets as given, numbers padded.
function skey(t, th, m, c, k,    i, mi, ti) {
  mi = 99; for (i = 1; i <= nm; i++) if (M[i] == m || (M[i] == "acct" && m ~ /^acct/)) mi = i
  ti = 99; for (i = 1; i <= nt; i++) if (T[i] == t) ti = i
  if (t == "floor") k = 999999999999
  return sprintf("%02d %010d %012d %02d %06d", mi, c, k, ti, (th == "-") ? 0 : th)
}
BEGIN { nm = split(modes, M, " "); nt = split("'"$TARGET_ORDER"'", T, " ") }'
# rounds.tsv: collect each (target, threads, mode, concurrency, codes); the
# programs using this call stats() in their END.
AWK_COLLECT='
FNR == 1 { next }
{
  key = $3 SUBSEP $4 SUBSEP $5 SUBSEP $6 SUBSEP $7
  if (!(key in cnt)) keys[++nkeys] = key
  n = ++cnt[key]
  RPS[key, n] = $8; P50[key, n] = $9; P99[key, n] = $11
  TO[key] += $15; BAD[key] += $16; LL[key, n] = $18
  byr[key, $1] = $8; byp[key, $1] = $11
  if ($1 + 0 > last) last = $1 + 0
}
function stats(    i, n, key, a, b, c, d) {
  for (i = 1; i <= nkeys; i++) {
    key = keys[i]; n = cnt[key]
    for (j = 1; j <= n; j++) { a[j] = RPS[key, j]; b[j] = P99[key, j]; c[j] = P50[key, j]; d[j] = LL[key, j] }
    rmed[key] = median(a, n); rmin[key] = amin(a, n); rmax[key] = amax(a, n)
    pmed[key] = median(b, n); pmin[key] = amin(b, n); pmax[key] = amax(b, n)
    p50med[key] = median(c, n); llmed[key] = median(d, n)
  }
  # FreeRADIUS: the thread count with the highest median req/s per kind,
  # mode, concurrency and codes.
  for (i = 1; i <= nkeys; i++) {
    key = keys[i]; split(key, f, SUBSEP)
    if (f[1] !~ /^freeradius-/) continue
    g = f[1] SUBSEP f[3] SUBSEP f[4] SUBSEP f[5]
    if (!(g in best) || rmed[key] > rmed[best[g]]) best[g] = key
  }
}'

awk -F'\t' -v modes="$MODES" "$AWK_MEDIAN$AWK_COLLECT"'
END {
  stats()
  for (i = 1; i <= nkeys; i++) {
    key = keys[i]; split(key, f, SUBSEP)
    g = f[1] SUBSEP f[3] SUBSEP f[4] SUBSEP f[5]
    printf "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%.0f\t%.0f\t%.0f\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t%d\t%.3f\t%s\n", \
      skey(f[1], f[2], f[3], f[4], f[5]), f[1], f[2], f[3], f[4], f[5], cnt[key], \
      rmed[key], rmin[key], rmax[key], p50med[key], pmed[key], pmin[key], pmax[key], \
      TO[key], BAD[key], llmed[key], ((g in best) && best[g] == key) ? "best" : ""
  }
}' "$ROUNDS_TSV" | sort | cut -f2- >"$SUMMARY.rows"
{
  printf 'target\tthreads\tmode\tconcurrency\tcodes\truns\trps_median\trps_min\trps_max\tp50_ms_median\tp99_ms_median\tp99_ms_min\tp99_ms_max\ttimeouts\tbad\tlog_lines_per_req\tnote\n'
  cat "$SUMMARY.rows"
} >"$SUMMARY"
{
  echo "| target | threads | mode | concurrency | codes | runs | req/s median | min | max | p50 ms | p99 ms median | p99 min | p99 max | timeouts | bad | log lines/req | |"
  echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  awk -F'\t' '{ printf "|"; for (i = 1; i <= NF; i++) printf " %s |", $i; printf "\n" }' "$SUMMARY.rows"
} >"$MARKDOWN"
rm -f "$SUMMARY.rows"

# ---------------------------------------------------------------- ratios
{
  echo "$(grep -c . "$ROUNDS_TSV" | awk '{print $1 - 1}') runs in $ROUNDS round(s); medians over the rounds, [min-max]"
  echo
  sed -n '/^per-request logging/,$p' "$OUT/machine.txt"
  echo "  measured: log lines written per request (the median over the rounds; for FreeRADIUS the most at any"
  echo "  of its thread counts; rounds.tsv has every run's lines and bytes per request):"
  awk -F'\t' -v modes="$MODES" "$AWK_MEDIAN$AWK_COLLECT"'
    END {
      stats()
      for (i = 1; i <= nkeys; i++) {
        key = keys[i]; split(key, f, SUBSEP)
        if (f[1] == "floor") continue
        g = f[1] SUBSEP f[3] SUBSEP f[4] SUBSEP f[5]
        if (!(g in most) || llmed[key] > most[g]) most[g] = llmed[key]
      }
      for (g in most) {
        split(g, f, SUBSEP)
        printf "%s\t    %-16s %-9s conc %-4s codes %-8s %.3f lines/request\n", skey(f[1], "-", f[2], f[3], f[4]), \
          f[1], f[2], f[3], f[4], most[g]
      }
    }' "$ROUNDS_TSV" | sort | cut -f2-

  sweep=$(awk -F'\t' -v modes="$MODES" "$AWK_MEDIAN$AWK_COLLECT"'
    END {
      stats()
      for (i = 1; i <= nkeys; i++) {
        key = keys[i]; split(key, f, SUBSEP)
        if (f[1] !~ /^freeradius-/) continue
        g = f[1] SUBSEP f[3] SUBSEP f[4] SUBSEP f[5]
        printf "%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%.3f\t%s\n", skey(f[1], f[2], f[3], f[4], f[5]), f[1], f[3], f[4], f[5], \
          f[2], rmed[key], pmed[key], (best[g] == key) ? "best" : ""
      }
    }' "$ROUNDS_TSV" | sort | cut -f2- | awk -F'\t' '
    function flush() {
      if (g == "") return
      printf "  %-16s %-9s conc %-4s codes %-8s%s -> best %s threads\n", gk[1], gk[2], gk[3], gk[4], line, bt
      # At an edge of the sweep and clearly (5%) ahead of its neighbour:
      # a thread count outside the sweep may be better still.
      edge = 0
      if (nth > 1 && bt == th[1] && rs[1] > 1.05 * rs[2]) edge = 1
      if (nth > 1 && bt == th[nth] && rs[nth] > 1.05 * rs[nth - 1]) edge = 1
      if (edge)
        warn = warn sprintf("  WARNING %s %s conc %s codes %s: the best thread count (%s) is at the edge of the sweep (%s-%s) and over 5%% ahead of its neighbour; widen it (--fr-%s-threads)\n", \
          gk[1], gk[2], gk[3], gk[4], bt, th[1], th[nth], substr(gk[1], 12))
    }
    {
      k = $1 "\t" $2 "\t" $3 "\t" $4
      if (k != g) { flush(); g = k; split(k, gk, "\t"); line = ""; nth = 0; bt = "" }
      nth++; th[nth] = $5; rs[nth] = $6
      line = line sprintf("  %s: %.0f/s p99 %.3f%s", $5, $6, $7, ($8 == "best") ? " *" : "")
      if ($8 == "best") bt = $5
    }
    END { flush(); if (warn != "") printf "\n%s", warn }')
  if [ -n "$sweep" ]; then
    echo
    echo "FreeRADIUS by thread count (median req/s and p99 ms over the rounds; * = the best, used for the ratios):"
    printf '%s\n' "$sweep"
  fi

  echo
  if [ "$DATABASE" = postgres ]; then
    echo "radgate-pg (one node) and radgate-pg2 (two nodes on the same database) / other, run against run in the same round (throughput: higher is better for radgate; p99: lower is better for radgate); radgate-pg2 / radgate-pg is what the second node adds on this machine; median [min-max] over the rounds:"
  else
    echo "radgate / other, run against run in the same round (throughput: higher is better for radgate; p99: lower is better for radgate); median [min-max] over the rounds:"
  fi
  awk -F'\t' -v modes="$MODES" -v plan="$RATIO_PLAN" "$AWK_MEDIAN$AWK_COLLECT"'
    END {
      stats()
      found = 0
      np = split(plan, P, " ")
      for (pi = 1; pi <= np; pi++) {
      split(P[pi], bo, ":"); base = bo[1]; no = split(bo[2], O, ",")
      for (i = 1; i <= nkeys; i++) {
        rk = keys[i]; split(rk, f, SUBSEP)
        if (f[1] != base) continue
        m = f[3]; c = f[4]; k = f[5]
        printf "%s\t  %-9s conc %-4s codes %-8s %s %.0f/s p99 %.3f ms (%d runs)\n", skey(base, "-", m, c, k), \
          m, c, k, base, rmed[rk], pmed[rk], cnt[rk]
        for (oi = 1; oi <= no; oi++) {
          o = O[oi]
          if (o ~ /^freeradius-/) {
            g = o SUBSEP m SUBSEP c SUBSEP k
            if (!(g in best)) continue
            ok = best[g]; split(ok, of, SUBSEP); label = o " (" of[2] " thr)"
          } else {
            ok = o SUBSEP "-" SUBSEP m SUBSEP c SUBSEP ((o == "floor") ? 0 : k)
            if (!(ok in cnt)) continue
            label = (o == "floor") ? "floor (fsync)" : o
          }
          n = 0
          for (rd = 1; rd <= last; rd++) {
            if (!((rk, rd) in byr) || !((ok, rd) in byr) || byr[ok, rd] <= 0 || byp[ok, rd] <= 0) continue
            n++; tr[n] = byr[rk, rd] / byr[ok, rd]; pr[n] = byp[rk, rd] / byp[ok, rd]
          }
          if (n == 0) continue
          found = 1
          note = ""
          if (o == "freeradius-files" && m ~ /^acct/) note = "  (files stores no accounting)"
          if (o ~ /^freeradius-/ && (llmed[rk] - llmed[ok] > 0.1 || llmed[ok] - llmed[rk] > 0.1))
            note = note sprintf("  (NOT the same logging: %.2f log lines per request against %.2f)", llmed[rk], llmed[ok])
          printf "%s\t    / %-24s throughput x%.2f [%.2f-%.2f]  p99 x%.2f [%.2f-%.2f]  over %d round(s); %s %.0f/s p99 %.3f ms%s\n", \
            skey(base, "-", m, c, k) sprintf(" %02d", oi + 1), label, median(tr, n), amin(tr, n), amax(tr, n), \
            median(pr, n), amin(pr, n), amax(pr, n), n, o, rmed[ok], pmed[ok], note
        }
      }
      }
      if (!found) printf "~\t  (no round with radgate and another target at the same settings)\n"
      # The generator ceiling: a server at more than half of what the
      # generator reaches against the trivial responder may be limited by it.
      for (i = 1; i <= nkeys; i++) {
        key = keys[i]; split(key, f, SUBSEP)
        if (f[1] == "responder" || f[1] == "floor") continue
        rr = "responder" SUBSEP "-" SUBSEP f[3] SUBSEP f[4] SUBSEP f[5]
        if (!(rr in cnt) || rmed[key] <= 0.5 * rmed[rr]) continue
        printf "~~%s\t  WARNING %s%s %s conc %s codes %s: %.0f req/s is over half the generator ceiling (%.0f req/s): the generator (or the cores it shares with the server) may limit it\n", \
          skey(f[1], f[2], f[3], f[4], f[5]), f[1], (f[2] == "-") ? "" : " (" f[2] " thr)", f[3], f[4], f[5], rmed[key], rmed[rr]
      }
    }' "$ROUNDS_TSV" | sort | cut -f2-

  # radgate at more codes against the fewest, per mode and concurrency: the
  # median of each codes value's runs, the ratio of the medians, and each
  # round's ratio (runs paired by round, so a round that failed for one
  # codes value is left out, not paired with another round).
  scaling=$(awk -F'\t' -v targets="$SCALING_TARGETS" "$AWK_MEDIAN"'
    FNR == 1 || index(" " targets " ", " " $3 " ") == 0 { next }
    { mk = $3 "\t" $5 "\t" $6; mc[mk, $7] = 1; mks[mk] = 1; rps[mk, $7, $1] = $8; if ($1 + 0 > last) last = $1 + 0 }
    END {
      for (mk in mks) {
        split(mk, m, "\t")
        nc = 0
        for (x in mc) { split(x, y, SUBSEP); if (y[1] == mk) cs[++nc] = y[2] + 0 }
        for (i = 2; i <= nc; i++) for (j = i; j > 1 && cs[j - 1] > cs[j]; j--) { t = cs[j]; cs[j] = cs[j - 1]; cs[j - 1] = t }
        if (nc < 2) continue
        base = cs[1]
        for (i = 1; i <= nc; i++) {
          c = cs[i]; n = 0
          for (rd = 1; rd <= last; rd++) if ((mk, c, rd) in rps) v[++n] = rps[mk, c, rd]
          if (n == 0) continue
          med[c] = median(v, n)
          line = sprintf("  %s scaling %-9s conc %-4s codes %-8s median %.0f req/s over %d run(s)", m[1], m[2], m[3], c, med[c], n)
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
    }' "$ROUNDS_TSV" | sort -k1,1 -k3,3 -k5,5n -k7,7n)
  if [ -n "$scaling" ]; then printf '\n%s\n' "$scaling"; fi
  echo
} | tee "$OUT/ratios.txt"
say "results: $OUT/ratios.txt, $SUMMARY (medians per target; $MARKDOWN as Markdown), $ROUNDS_TSV (every run), $RESULTS (full JSON per run), $OUT/machine.txt"
