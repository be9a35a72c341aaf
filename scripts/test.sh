#!/usr/bin/env bash
# The test line: installs what the tests need, builds, runs every test file.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
npm run --silent build
# Tests start their own servers on 127.0.0.1 and must not inherit a CA bundle
# that would hide TLS mistakes.
unset NODE_EXTRA_CA_CERTS
# The compiled form of each test/*.test.ts (not whatever an older build left in dist/).
files=$(ls test/*.test.ts | sed 's#^test/\(.*\)\.ts$#dist/test/\1.js#')
if [ $# -gt 0 ]; then files="$*"; fi
exec node --test --test-concurrency=2 --test-timeout=300000 $files
