#!/usr/bin/env bash
# Regenerate gen/ from proto/ with ts-proto (buf.gen.yaml). gen/ is committed;
# scripts/check-gen.sh fails when it is stale. Never edit gen/ by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf gen
node_modules/.bin/buf generate
