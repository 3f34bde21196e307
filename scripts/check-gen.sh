#!/usr/bin/env bash
# Fail when gen/ differs from what proto/ + buf.gen.yaml generate now.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
node_modules/.bin/buf generate --output "$tmp"
node_modules/.bin/buf build --exclude-source-info -o "$tmp/gen/descriptors.binpb"
if ! diff -r "$tmp/gen" gen >"$tmp/diff.txt"; then
  echo "gen/ is stale: run 'npm run gen' and commit the result. Differences:" >&2
  head -50 "$tmp/diff.txt" >&2
  exit 1
fi
echo "gen/ is up to date"
