#!/usr/bin/env bash
# Refresh the compatibility baseline: the protobuf image `buf breaking` and
# `contract check` compare with (proto/baseline.binpb) and, beside it, the
# released JSON Schemas (proto/baseline.schemas.json). Do this deliberately,
# at a release, in a commit of its own that says which version the baseline
# now is (docs/contract-evolution.md, "Releasing a version").
set -euo pipefail
cd "$(dirname "$0")/.."
node_modules/.bin/buf build --exclude-source-info -o proto/baseline.binpb
node_modules/.bin/tsc -p tsconfig.json
node dist/src/cli/bin.js schemas export --format json proto/baseline.schemas.json
version=$(node -e 'console.log(JSON.parse(require("fs").readFileSync("proto/baseline.schemas.json","utf8")).SessionStartEvent.event_version)')
echo "wrote proto/baseline.binpb and proto/baseline.schemas.json from proto/ and the current contract (event_version $version)"
