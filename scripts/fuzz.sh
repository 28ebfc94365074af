#!/usr/bin/env bash
# npm run fuzz: fuzzes the xl config parser, the rules loader and the console matcher for FUZZ_SECONDS
# (default 60) in all; FUZZ_SEED replays a run. See test/fuzz/run.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx test/fuzz/run.ts
