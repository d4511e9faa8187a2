#!/usr/bin/env bash
# tus-js-client (the client browsers use through Uppy) for `make cluster`; only that target
# needs the npm registry. Safe to run again: it does nothing when the lock file is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
js=tests/cluster/js
if [ ! -d "$js/node_modules/tus-js-client" ] || [ "$js/package-lock.json" -nt "$js/node_modules/.package-lock.json" ]; then
    echo "installing tus-js-client (npm ci in $js)"
    npm ci --prefix "$js" --no-audit --no-fund --loglevel=error >/dev/null
fi
