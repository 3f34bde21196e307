#!/usr/bin/env bash
# Refresh the breaking-change baseline. Do this deliberately, at a release,
# in a commit of its own that says which version the baseline now is.
set -euo pipefail
cd "$(dirname "$0")/.."
node_modules/.bin/buf build --exclude-source-info -o proto/baseline.binpb
echo "wrote proto/baseline.binpb from proto/"
