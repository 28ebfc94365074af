#!/usr/bin/env bash
# npm run fuzz: fuzzes the xl config parser, the rules loader, the guest boot-file parsers (fstab,
# grub.cfg) and the console matcher, first
# property-based (fast-check, test/fuzz/run.ts), then coverage-guided (test/fuzz/guided.ts), for
# FUZZ_SECONDS each (default 60); FUZZ_SEED replays a run.
set -euo pipefail
cd "$(dirname "$0")/.."
node --import tsx test/fuzz/run.ts
exec node --import tsx test/fuzz/guided.ts
