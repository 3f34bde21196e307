#!/usr/bin/env bash
# The whole check, as CI runs it: build + typecheck, buf lint, Biome (format
# and lint, see biome.json), buf breaking
# against the committed baseline, gen/ freshness, the contract check (both
# halves against the committed baseline), and every test. Each gate counts as
# one check; uvu's tests count one each; a skipped test counts as failed and
# is listed. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
export NO_COLOR=1

passed=0
failed=0
gate() {
  local name=$1
  shift
  echo "== $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    echo "FAILED: $name"
    failed=$((failed + 1))
  fi
}

gate "typecheck + build (tsc)" bash -c 'rm -rf dist && node_modules/.bin/tsc -p tsconfig.json && node scripts/make-bin-executable.mjs'
gate "buf lint" node_modules/.bin/buf lint
gate "biome (format + lint)" node_modules/.bin/biome ci --error-on-warnings .
gate "buf breaking (WIRE_JSON, against proto/baseline.binpb)" bash scripts/breaking.sh
gate "gen/ is fresh" bash scripts/check-gen.sh
gate "contract check (event_version matches the changes, against proto/baseline.*)" node dist/src/cli/bin.js contract check --against proto/baseline.binpb

echo "== tests (uvu)"
# Every temporary file of the run lives under one directory, removed at the
# end, so a test that forgets to clean up cannot fill /tmp run after run.
run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/session-events-tests-XXXXXX")
trap 'rm -rf "$run_tmp"' EXIT
export TMPDIR=$run_tmp
out=$(mktemp)
# uvu leads a process group of its own (setsid), so that stopping it also
# stops what its tests started (nats-server, collectors); it writes its pid
# first, as setsid may fork.
pidfile=$(mktemp)
setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$pidfile" node_modules/.bin/uvu dist/test '\.test\.js$' >"$out" 2>&1 &
for _ in $(seq 100); do
  [ -s "$pidfile" ] && break
  sleep 0.1
done
uvu=$(cat "$pidfile")
if [ -z "$uvu" ]; then
  echo "FAILED: the tests did not start (setsid, from util-linux, is needed)"
  cat "$out"
  echo "$passed passed, $((failed + 1)) failed"
  exit 1
fi
rm -f "$pidfile"
stop_tests() {
  kill -INT -- "-$uvu" 2>/dev/null
  for _ in $(seq 5); do
    kill -0 "$uvu" 2>/dev/null || break
    sleep 1
  done
  kill -KILL -- "-$uvu" 2>/dev/null
}
trap 'stop_tests; exit 130' INT TERM
tail -n +1 -f --pid="$uvu" "$out" &
# A handle left open (a failed case that skipped its clean-up) must not hang
# the run once uvu has printed its final summary (the last lines of its
# output: a failed case may quote a child run's summary earlier on). It is
# stopped after 60 s, and counted as a failure.
summarised() { tail -n 5 "$out" | grep -qE '^ *Duration: +[0-9.]+ms$'; }
lingered=0
while kill -0 "$uvu" 2>/dev/null; do
  if summarised; then
    for _ in $(seq 60); do
      kill -0 "$uvu" 2>/dev/null || break
      sleep 1
    done
    if kill -0 "$uvu" 2>/dev/null; then
      lingered=1
      stop_tests
    fi
    break
  fi
  sleep 1
done
wait
trap - INT TERM
clean=$(sed 's/\x1b\[[0-9;]*m//g' "$out")
total=$(echo "$clean" | awk '/^ *Total:/ {print $2}' | tail -1)
ok=$(echo "$clean" | awk '/^ *Passed:/ {print $2}' | tail -1)
skipped=$(echo "$clean" | awk '/^ *Skipped:/ {print $2}' | tail -1)
skips=$(echo "$clean" | grep '^SKIP: ' || true)
rm -f "$out"
if [ -z "$total" ] || [ "$total" = "0" ]; then
  echo "FAILED: no tests ran"
  failed=$((failed + 1))
else
  passed=$((passed + ok))
  # uvu leaves a skipped test out of Total: each one fails the run.
  failed=$((failed + total - ok + ${skipped:-0}))
fi

if [ "$lingered" = 1 ]; then
  echo "FAILED: the test process was still running 60 s after its summary (a handle left open): stopped"
  failed=$((failed + 1))
fi

echo
if [ "${skipped:-0}" != "0" ]; then
  echo "FAILED: ${skipped} skipped (a skip is a failure: install what it needs)"
  [ -n "$skips" ] && echo "$skips"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
