#!/usr/bin/env bash
# The floor of durable accounting on a PostgreSQL: what the server alone
# (no RADIUS, no radgate, no load generator) does with 64 Interim-Updates
# per transaction, written set-based (setbased.sql: lock the tokens, read
# the sessions, one UPDATE of the sessions, one of the tokens) or one
# statement per request and step (perrow.sql: 64 x read, update, charge),
# both pipelined, synchronous_commit as the server has it.
#
# usage: scripts/pg-floor/run.sh SOCKET_DIR [clients...]
#   SOCKET_DIR: the unix-socket directory of a running PostgreSQL whose
#   superuser is postgres (e.g. one started as in scripts/bench.sh). It
#   creates (and drops first) a database "radgate_floor" with radgate's
#   schema, 10,000 tokens and 10,000 live sessions, reset before each run.
# Requests per second = tps x 64.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
host=${1:?usage: run.sh SOCKET_DIR [clients...]}
shift
clients=${*:-2 4 8}
pgbench=$(ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -1)
[ -x "$pgbench" ] || { echo "pgbench not found (Debian: postgresql)" >&2; exit 1; }
export PGOPTIONS="-c client_min_messages=warning"
P=(psql -h "$host" -U postgres -q -v ON_ERROR_STOP=1)
seed() {
  "${P[@]}" -d postgres -c "DROP DATABASE IF EXISTS radgate_floor" -c "CREATE DATABASE radgate_floor"
  "${P[@]}" -d radgate_floor -f "$here/../../migrations/postgres/0001_init.sql" >/dev/null
  "${P[@]}" -d radgate_floor \
    -c "INSERT INTO access_tokens (unique_id, access_code, code_key, minutes_included, created_on, updated_on)
        SELECT 'u' || g, 'C' || g, 'C' || g, 100000, 0, 0 FROM generate_series(1, 10000) g" \
    -c "INSERT INTO sessions (token_id, nas, device, state, acct_session_id, created_at, updated_at)
        SELECT id, '127.0.0.1', 'd' || id, 'active', 's' || id, 0, 0 FROM access_tokens" \
    -c "VACUUM ANALYZE" -c "CHECKPOINT"
}
for c in $clients; do
  for f in setbased perrow; do
    seed
    tps=$("$pgbench" -h "$host" -U postgres -n -M prepared -c "$c" -j 1 -T 12 -f "$here/$f.sql" radgate_floor \
      | awk '/^tps/ {print $3}')
    awk -v f="$f" -v c="$c" -v t="$tps" 'BEGIN {printf "%-9s clients %-2s %8.0f tps  %9.0f requests/s\n", f, c, t, t * 64}'
  done
done
"${P[@]}" -d postgres -c "DROP DATABASE radgate_floor"
