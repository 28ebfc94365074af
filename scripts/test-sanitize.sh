#!/usr/bin/env bash
# The sanitizer tier: the same native/ sources built by cmake-js with AddressSanitizer and
# UndefinedBehaviorSanitizer (native/sanitize/CMakeLists.txt), and the tests that drive the
# native layer hardest run against that build. Any report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
log=build-sanitize/build.log
mkdir -p build-sanitize
npx cmake-js compile -d native/sanitize -O build-sanitize > "$log" 2>&1 || { tail -30 "$log" >&2; exit 1; }
addon=$PWD/build-sanitize/Release/vmbootfail.node
# node is not instrumented: the ASan runtime must be loaded first, into node and everything the tests spawn.
export LD_PRELOAD=$(gcc -print-file-name=libasan.so)
export VMBF_NATIVE_ADDON=$addon
# Leaks are not checked here: LeakSanitizer would report node's and every spawned tool's own at exit.
# intercept_strchr=0: libparted's own constructor (ped_disk_gpt_init) trips the strchr interceptor in every process.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1:intercept_strchr=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
npx vitest run test/10-disk-inspector.test.ts test/11-disk-parallel.test.ts test/12-native-abuse.test.ts test/13-hostile-disks.test.ts \
  test/20-xenstore.contract.test.ts test/45-xen-driver.test.ts "$@"

# Leaks, under valgrind, on the regular build: every native entry point in a loop; a leak that grows with
# the rounds, or an invalid access with the addon on the stack, fails (scripts/valgrind-check.mjs).
unset LD_PRELOAD VMBF_NATIVE_ADDON
rounds=30
out=build-sanitize/valgrind.txt
XENSTORED_PATH=/nonexistent/vmbootfail-leak-probe timeout 900 valgrind --leak-check=full \
  --show-leak-kinds=definite,indirect --num-callers=40 node test/support/leak-probe.cjs "$rounds" > "$out" 2>&1 \
  || { tail -30 "$out" >&2; echo "test-sanitize: valgrind run failed (log: $out)" >&2; exit 1; }
node scripts/valgrind-check.mjs "$out" "$rounds"
