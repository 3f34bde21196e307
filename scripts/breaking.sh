#!/usr/bin/env bash
# Refuse incompatible contract changes: compare proto/ with the committed
# baseline image of the last release (not with the main branch, which CI
# itself runs on). Rules: WIRE_JSON (buf.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
node_modules/.bin/buf breaking --against proto/baseline.binpb
echo "no breaking changes against proto/baseline.binpb"
