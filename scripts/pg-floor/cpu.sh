#!/usr/bin/env bash
# Where the CPU goes when one radgate node runs on PostgreSQL: the whole
# machine's busy time, radgate's, the load generator's, and the rest
# (PostgreSQL: its backends, WAL writer, autovacuum workers, and the
# kernel's work for them), in CPU microseconds per answered request, over
# one radgate-bench run on this machine. With the rest known, the most these
# cores can give is (cores x 1e6) / (the rest's us per request): a ceiling
# that no change in radgate moves. Run it on a quiet machine.
#
# usage: scripts/pg-floor/cpu.sh SOCKET_DIR [MODE] [USER_LIMIT]
#   SOCKET_DIR: the unix-socket directory of a running PostgreSQL whose
#   superuser is postgres. It creates (and drops first) a database
#   "radgate_cpu" with 10,000 codes BENCH000000.., UserLimit USER_LIMIT
#   (default NULL), starts `radgate serve` on loopback (release build in
#   target/release), loads it with radgate-bench for 10 s after 2 s of
#   warm-up (MODE: acct (default), auth-pap, auth-chap; logins with
#   --device-per-code when USER_LIMIT is set), and stops it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
host=${1:?usage: cpu.sh SOCKET_DIR [MODE] [USER_LIMIT]}
mode=${2:-acct}
limit=${3:-NULL}
radgate=${RADGATE_BIN:-$root/target/release/radgate}
bench=$root/target/release/radgate-bench
[ -x "$radgate" ] && [ -x "$bench" ] || { echo "build first: cargo build --release" >&2; exit 1; }
export PGOPTIONS="-c client_min_messages=warning"
P=(psql -X -h "$host" -U postgres -q -v ON_ERROR_STOP=1)
dir=$(mktemp -d "${TMPDIR:-/tmp}/radgate-cpu.XXXXXX")
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
"${P[@]}" -d postgres -c "DROP DATABASE IF EXISTS radgate_cpu" -c "CREATE DATABASE radgate_cpu"
mapfile -t ports < <("$bench" free-ports 2)
cat >"$dir/radgate.toml" <<EOF
[server]
auth_listen = "127.0.0.1:${ports[0]}"
acct_listen = "127.0.0.1:${ports[1]}"

[database]
url = "postgres://postgres@/radgate_cpu?host=$host"

[[client]]
name = "bench"
address = "127.0.0.1"
secret = "testing123"
EOF
"$radgate" --config "$dir/radgate.toml" token create --code SEEDINIT --minutes 1 >/dev/null 2>&1
"${P[@]}" -d radgate_cpu <<SQL
DELETE FROM access_tokens;
INSERT INTO access_tokens (unique_id, business_id, access_code, code_key, description,
    minutes_included, seconds_used, user_limit, created_on, updated_on, updated_by)
SELECT gen_random_uuid()::text, 0, c, c, 'cpu.sh', 1000000, 0, $limit, 0, 0, 'cpu.sh'
FROM (SELECT 'BENCH' || lpad(i::text, 6, '0') AS c FROM generate_series(0, 9999) AS i) AS n;
VACUUM (ANALYZE) access_tokens;
CHECKPOINT;
SQL
RADGATE_LOG=warn "$radgate" --config "$dir/radgate.toml" serve 2>"$dir/serve.log" &
pid=$!
server=127.0.0.1:${ports[0]}
[ "$mode" = acct ] && server=127.0.0.1:${ports[1]}
devices=()
[ "$limit" = NULL ] || devices=(--device-per-code)
for _ in $(seq 50); do
  "$bench" load --server "$server" --mode "$mode" --codes 10000 --requests 4 --concurrency 1 \
    --warmup 0s --duration 5s --timeout 300ms --strict "${devices[@]}" >/dev/null 2>&1 && break
  sleep 0.2
done
hz=$(getconf CLK_TCK)
# ticks PID...: the sum of utime + stime of the processes (fields 14, 15).
ticks() {
  local t=0 p f
  for p in "$@"; do
    f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    f=${f##*) }
    set -- $f
    t=$((t + ${12} + ${13}))
  done
  echo "$t"
}
pg_pids() { pgrep -x postgres || true; }
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
mapfile -t pgs < <(pg_pids)
pg0=$(ticks "${pgs[@]}"); rg0=$(ticks "$pid"); all0=$(busy)
json=$("$bench" load --server "$server" --mode "$mode" --codes 10000 --concurrency 64 \
  --duration 10s --warmup 2s "${devices[@]}" --json)
pg1=$(ticks "${pgs[@]}"); rg1=$(ticks "$pid"); all1=$(busy)
answered=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["responses"])')
rps=$(echo "$json" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["rps"]))')
gen=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("generator_cpu_us_per_request") or 0)')
# The ticks cover warm-up and run (12 s); requests are counted over the 10 s
# measured: scale the ticks to the measured part.
python3 - "$hz" "$pg0" "$pg1" "$rg0" "$rg1" "$all0" "$all1" "$answered" "$rps" "$gen" "$(nproc)" "$mode" "$limit" <<'PY'
import sys
hz, pg0, pg1, rg0, rg1, a0, a1, n, rps, gen, cores = map(float, sys.argv[1:12])
mode, limit = sys.argv[12], sys.argv[13]
share = 10 / 12
us = lambda d: d / hz * 1e6 * share / n
pg, rg, allc = us(pg1 - pg0), us(rg1 - rg0), us(a1 - a0)
rest = allc - rg - gen
print(f"{mode}, UserLimit {limit}: {rps:.0f} requests/s")
print(f"  CPU us per answered request: whole machine {allc:.1f} = radgate {rg:.1f} + generator {gen:.1f}"
      f" + the rest {rest:.1f} (PostgreSQL's processes that ran throughout: {pg:.1f};"
      f" the rest adds autovacuum workers and the kernel)")
print(f"  the rest alone on all {cores:.0f} cores: at most {cores * 1e6 / rest:,.0f} requests/s")
PY
