#!/usr/bin/env bash
# Regenerate gen/ from proto/ with ts-proto (buf.gen.yaml) plus a descriptor set. gen/ is committed;
# scripts/check-gen.sh fails when it is stale. Never edit gen/ by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf gen
node_modules/.bin/buf generate
# The descriptor set: the one machine-readable copy of proto/ that runtime
# tables (reflection, strict decoding, Struct scans, archive kinds) derive from.
node_modules/.bin/buf build --exclude-source-info -o gen/descriptors.binpb
