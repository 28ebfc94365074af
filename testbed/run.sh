#!/usr/bin/env bash
# The project's real-Xen tier: boots Xen 4.17 + a Debian dom0 under QEMU,
# unattended, runs the paper's experiment inside dom0 (testbed/dom0/plan),
# brings the results out on the work disk and powers off. Every step has a
# time limit: a hung Xen, dom0 or guest ends the run with a clear message and
# the console log, never a hang. See testbed/README.md.
#
#   testbed/run.sh [--cases "normal vmce ..."|all] [--no-build] [--out DIR] [--update-fixtures]
#                  [--case-limit SECONDS] [--engine-cases "..."|none] [--engine-time-limit SECONDS]
#                  [--project-tests "test/x.test.ts ..."|none] [--recorder standalone|project]
#
# Inside dom0, for every case: record.mjs records a timeline (xl, xs, vbd, dom, con). Then, when the
# project built inside the image, the project's own `vmbootfail test --retries 0` runs on each of
# --engine-cases (default: the same cases), and vitest runs --project-tests there (default: the
# xenstore contract suite and the xenstat tests) with VMBF_TESTBED_DOM0=1.
#
# Environment:
#   VMBF_TESTBED_CACHE         cache of build.sh (default ~/.cache/vmbootfail-testbed); runs go to $CACHE/runs/
#   VMBF_TESTBED_ACCEL         auto (default) | kvm | tcg
#   VMBF_TESTBED_BOOT_TIMEOUT  seconds from QEMU start to the plan starting in dom0 (default 480)
#   VMBF_TESTBED_VERBOSE       1: echo the whole serial console, not just the plan's lines
#   VMBF_TESTBED_CPU           QEMU's -cpu under TCG (default qemu64,+svm,+npt: Xen gets SVM, so PVH guests run)
#   VMBF_TESTBED_BUDGET        seconds the whole run (build included) may take; QEMU's limit is cut to fit (CI sets it)
#   VMBF_TESTBED_CHECK_ENGINE  1 (default): fail the run when a `vmbootfail test` verdict does not match the
#                              injected fault; 0 only reports it
# Exit status: 0 all cases recorded; 1 a case or the plan failed; 2 usage; 3 cannot run here (no QEMU, not root);
#              4 Xen/dom0 did not come up or the run timed out.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
CACHE=${VMBF_TESTBED_CACHE:-$HOME/.cache/vmbootfail-testbed}
ALL_CASES="normal normal-whole-disk vmce uvde didf-partition-table didf-superblock didf-superblock-whole-disk didf-truncated-image uvke uvke-initrd-without-blkfront not-pv-kernel didf-gpt-primary-zeroed didf-superblock-checksum didf-group-descriptors didf-journal didf-feature-unknown uvke-btrfs-root uvke-xfs-feature-newer vmce-root-disk-missing vmce-root-partition-whole-disk uvde-empty-backing vmce-memory-too-large"
# The Debian 12 guest (systemd, fstab by UUID, pygrub; build.sh's debguest stage), issue 11.
DEB_CASES="deb-normal-pv deb-normal-pygrub deb-normal-pvh deb-normal-dracut deb-normal-lvm deb-normal-pvgrub deb-vmce deb-uvde deb-didf-superblock deb-uvke-dracut-without-blkfront deb-fstab-uuid-missing deb-data-disk-damaged deb-pygrub-missing-kernel deb-uvke-pvgrub-zstd-kernel"
ALL_CASES="$ALL_CASES $DEB_CASES"
# By default (what CI runs) every case goes through `vmbootfail test`, and the busybox guest's cases are
# also recorded; the Debian guest's recordings (2-3 min each under TCG: systemd, PVH, a 90 s device
# timeout) are kept as fixtures and re-recorded only when named with --cases, to keep the tier in budget.
BUSYBOX_CASES=${ALL_CASES%% deb-*}
CASES=$BUSYBOX_CASES
ENGINE_DEFAULT=$ALL_CASES
BUILD=1
OUT=""
UPDATE_FIXTURES=0
CASE_LIMIT=150
CASE_LIMIT_SET=0
ENGINE_TIME_LIMIT=90
RECORDER=standalone
ENGINE_CASES=default
PROJECT_TESTS="test/20-xenstore.contract.test.ts test/21-xenstat.test.ts test/22-device-mapper.test.ts"
BOOT_TIMEOUT=${VMBF_TESTBED_BOOT_TIMEOUT:-480}
VERBOSE=${VMBF_TESTBED_VERBOSE:-0}

while [ $# -gt 0 ]; do
  case $1 in
    --cases) CASES=${2//,/ }; [ "$CASES" = all ] && CASES=$ALL_CASES; ENGINE_DEFAULT=""; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    --update-fixtures) UPDATE_FIXTURES=1; shift ;;
    --case-limit) CASE_LIMIT=$2; CASE_LIMIT_SET=1; shift 2 ;;
    --engine-cases) ENGINE_CASES=${2//,/ }; shift 2 ;;
    --engine-time-limit) ENGINE_TIME_LIMIT=$2; shift 2 ;;
    --recorder) RECORDER=$2; shift 2 ;;
    --project-tests) PROJECT_TESTS=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

T0=$SECONDS
log() { printf '[run %s +%4ds] %s\n' "$(date +%H:%M:%S)" "$((SECONDS - T0))" "$*" >&2; }
cannot() { log "NOT RUN: $*"; log "the Xen tier was NOT run on this host"; exit 3; }

main() {
  [ "$(id -u)" -eq 0 ] || cannot "needs root (debootstrap, chroot and mke2fs -d of a root filesystem in build.sh)"
  command -v qemu-system-x86_64 >/dev/null || cannot "qemu-system-x86_64 is missing (apt-get install qemu-system-x86)"
  command -v debugfs >/dev/null || cannot "debugfs is missing (apt-get install e2fsprogs)"
  command -v node >/dev/null || cannot "node is missing (Node 20 is copied into dom0 from the host)"
  [ "$ENGINE_CASES" = default ] && ENGINE_CASES=${ENGINE_DEFAULT:-$CASES}
  [ "$ENGINE_CASES" = none ] && ENGINE_CASES=""
  [ "$PROJECT_TESTS" = none ] && PROJECT_TESTS=""
  local c
  for c in $CASES $ENGINE_CASES; do case " $ALL_CASES " in *" $c "*) ;; *) log "unknown case $c (known: $ALL_CASES)"; exit 2 ;; esac; done

  # ---------------------------------------------------------------- build
  local t_build=0
  if [ $BUILD -eq 1 ]; then
    local tb=$SECONDS
    log "building (testbed/build.sh)"
    bash "$HERE/build.sh" || { log "build failed"; exit 1; }
    t_build=$((SECONDS - tb))
  fi
  local f
  for f in xen/xen-4.17-amd64 dom0/vmlinuz dom0/initrd.img dom0.img guest/vmlinuz guest/initrd-blk.img guest/normal-part.img debguest.img; do
    [ -f "$CACHE/$f" ] || { log "missing $CACHE/$f: run testbed/build.sh"; exit 1; }
  done

  # ---------------------------------------------------------------- work disk
  [ -n "$OUT" ] || OUT=$CACHE/runs/$(date +%Y%m%d-%H%M%S)
  mkdir -p "$OUT"
  OUT=$(cd "$OUT" && pwd)
  log "run directory $OUT"
  local n; n=$(wc -w <<< "$CASES")
  local m; m=$(wc -w <<< "$ENGINE_CASES")
  local plan_limit=$(( n * (CASE_LIMIT + 60) + m * (ENGINE_TIME_LIMIT + 60) + 300 ))
  [ -n "$PROJECT_TESTS" ] && plan_limit=$((plan_limit + 900))
  # The Debian guest's cases have their own, longer limits (systemd boots in 110-130 s; PVH 400 s;
  # emergency mode after systemd's 90 s device timeout), in the recorded pass and the engine's.
  for c in $CASES; do case $c in deb-normal-pvh) plan_limit=$((plan_limit + 250)) ;; deb-*) plan_limit=$((plan_limit + 90)) ;; esac; done
  for c in $ENGINE_CASES; do case $c in deb-normal-pvh) plan_limit=$((plan_limit + 310)) ;; deb-*) plan_limit=$((plan_limit + 150)) ;; esac; done
  local total=$((BOOT_TIMEOUT + plan_limit + 120))
  if [ -n "${VMBF_TESTBED_BUDGET:-}" ]; then
    local left=$((VMBF_TESTBED_BUDGET - (SECONDS - T0) - 60))
    [ "$left" -ge 600 ] || { log "FAILED: the budget of ${VMBF_TESTBED_BUDGET} s leaves ${left} s for QEMU (under 600 s)"; exit 4; }
    if [ "$left" -lt "$total" ]; then
      log "budget: QEMU limited to ${left} s (VMBF_TESTBED_BUDGET=${VMBF_TESTBED_BUDGET}) instead of ${total} s"
      total=$left
    fi
  fi
  local stage=$OUT/work.stage
  rm -rf "$stage"; mkdir -p "$stage/plan" "$stage/results"
  cp -a "$HERE/dom0/plan/." "$stage/plan/"
  cp -al "$CACHE/guest" "$stage/guest" 2>/dev/null || cp -a --sparse=always "$CACHE/guest" "$stage/guest"
  local accel; accel=$(detect_accel)
  local cpu=${VMBF_TESTBED_CPU:-qemu64,+svm,+npt}
  case $accel in kvm*) cpu=host ;; esac
  {
    echo "CASES=\"$CASES\""
    echo "CASE_LIMIT=$CASE_LIMIT"
    echo "CASE_LIMIT_SET=$CASE_LIMIT_SET"
    echo "CPU=\"$cpu\""
    echo "ACCEL=\"${accel%% *}\""
    echo "ENGINE_CASES=\"$ENGINE_CASES\""
    echo "ENGINE_TIME_LIMIT=$ENGINE_TIME_LIMIT"
    echo "RECORDER=$RECORDER"
    echo "PROJECT_TESTS=\"$PROJECT_TESTS\""
  } > "$stage/plan/config"
  echo "$plan_limit" > "$stage/plan/limit"
  rm -f "$OUT/work.img"
  truncate -s 1G "$OUT/work.img"
  mke2fs -q -F -t ext4 -L vmbfwork -d "$stage" "$OUT/work.img" > /dev/null
  rm -rf "$stage"

  # ---------------------------------------------------------------- QEMU
  local -a q=(qemu-system-x86_64 -machine pc -smp 2 -m 4096
    -kernel "$CACHE/xen/xen-4.17-amd64"
    -append "dom0_mem=1024M,max:1024M dom0_max_vcpus=2 console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all console_timestamps=boot"
    -initrd "$CACHE/dom0/vmlinuz console=hvc0 root=/dev/vda rw,$CACHE/dom0/initrd.img"
    -drive "file=$CACHE/dom0.img,if=virtio,format=raw,snapshot=on"
    -drive "file=$OUT/work.img,if=virtio,format=raw"
    -drive "file=$CACHE/debguest.img,if=virtio,format=raw,snapshot=on"
    -nic none -display none -vga none -monitor none -serial stdio -no-reboot)
  case $accel in
    kvm*) q+=(-accel kvm -cpu host) ;;
    *) q+=(-accel tcg,thread=multi -cpu "$cpu") ;;
  esac
  log "accelerator: $accel; -cpu $cpu"
  log "cases ($n): $CASES"
  log "engine cases ($m, --time-limit $ENGINE_TIME_LIMIT): ${ENGINE_CASES:-none}; project tests: ${PROJECT_TESTS:-none}"
  log "limits: boot ${BOOT_TIMEOUT} s, plan ${plan_limit} s (per case ${CASE_LIMIT} s + 60 s), QEMU ${total} s"
  printf '%q ' "${q[@]}" > "$OUT/qemu.cmdline"; echo >> "$OUT/qemu.cmdline"

  : > "$OUT/console.log"; : > "$OUT/markers"
  rm -f "$OUT/console.fifo"; mkfifo "$OUT/console.fifo"
  local tq=$SECONDS
  QSTART_MS=$(( ${EPOCHREALTIME/./} / 1000 ))
  timeout -k 15 "$total" "${q[@]}" < /dev/null > "$OUT/console.fifo" 2>&1 &
  local qpid=$!
  pump < "$OUT/console.fifo" &
  local ppid=$!
  local reason="" rc=0
  while kill -0 "$qpid" 2>/dev/null; do
    if ! grep -q 'plan started' "$OUT/markers" && [ $((SECONDS - tq)) -ge "$BOOT_TIMEOUT" ]; then
      reason="Xen/dom0 did not start the plan within ${BOOT_TIMEOUT} s of QEMU starting"
      log "TIMEOUT: $reason; stopping QEMU"
      kill "$qpid" 2>/dev/null || true
      break
    fi
    sleep 2
  done
  wait "$qpid" || rc=$?
  wait "$ppid" || true
  rm -f "$OUT/console.fifo"
  local t_qemu=$((SECONDS - tq))
  [ $rc -eq 124 ] && [ -z "$reason" ] && reason="QEMU exceeded the overall limit of ${total} s"
  log "QEMU exited (status $rc) after ${t_qemu} s"

  # ---------------------------------------------------------------- results
  rm -rf "$OUT/results"
  debugfs -R "rdump /results $OUT" "$OUT/work.img" > /dev/null 2>&1 || true
  [ "${VMBF_TESTBED_KEEP_WORK_IMG:-0}" = 1 ] || rm -f "$OUT/work.img"
  {
    echo "build_s=$t_build"
    echo "qemu_s=$t_qemu"
    awk '{print "marker " $0}' "$OUT/markers"
    echo "total_s=$((SECONDS - T0))"
  } > "$OUT/times.txt"

  local status=0
  if [ -n "$reason" ] || [ ! -f "$OUT/results/done" ]; then
    [ -n "$reason" ] || reason="the plan did not finish (no results/done on the work disk)"
    log "FAILED: $reason"
    log "last 60 lines of the serial console ($OUT/console.log):"
    tail -n 60 "$OUT/console.log" | sed 's/^/    | /' >&2
    [ -f "$OUT/results/plan.log" ] && { log "plan log:"; sed 's/^/    | /' "$OUT/results/plan.log" >&2; }
    status=4
  fi
  if [ -d "$OUT/results" ]; then
    local src=0
    # Every case of the run: the recorded ones, and those only `vmbootfail test` ran (their verdicts are
    # checked too).
    local summarized; summarized=$(printf '%s\n' $CASES $ENGINE_CASES | awk '!seen[$0]++' | tr '\n' ' ')
    node "$HERE/summarize.mjs" "$OUT/results" $summarized > "$OUT/summary.md" 2> "$OUT/summary.err" || src=$?
    cat "$OUT/summary.md" >&2
    if [ $src -eq 5 ]; then
      log "the engine's verdicts do not all match the injected faults (VMBF_TESTBED_CHECK_ENGINE=1)"
      [ $status -eq 0 ] && status=1
    elif [ $src -ne 0 ]; then
      log "summarize.mjs failed: $(tail -3 "$OUT/summary.err")"
    fi
    if [ -f "$OUT/results/project/vitest.rc" ] && [ "$(cat "$OUT/results/project/vitest.rc")" != 0 ]; then
      log "the project's tests failed in dom0:"; grep -E '✗|×|FAIL|Tests ' "$OUT/results/project/vitest.txt" | head -30 >&2
      [ $status -eq 0 ] && status=1
    fi
    if grep -qs project-not-built "$OUT/results/skipped"; then
      log "the project was not built in the dom0 image: no engine verdicts, no tests in dom0"
      [ $status -eq 0 ] && status=1
    fi
    if [ -s "$OUT/results/errors" ]; then
      log "case errors:"; sed 's/^/    /' "$OUT/results/errors" >&2
      [ $status -eq 0 ] && status=1
    fi
    for c in $CASES; do
      [ -s "$OUT/results/$c/timeline" ] || { log "case $c: no timeline"; [ $status -eq 0 ] && status=1; }
    done
    [ $UPDATE_FIXTURES -eq 1 ] && update_fixtures
  fi
  log "build ${t_build} s, QEMU ${t_qemu} s, total $((SECONDS - T0)) s; results in $OUT"
  exit $status
}

# KVM only where it really is hardware KVM: on this kind of host /dev/kvm is
# kvm_pvm, under which Xen crawls and then panics (testbed.md).
detect_accel() {
  case ${VMBF_TESTBED_ACCEL:-auto} in
    kvm) echo "kvm (forced by VMBF_TESTBED_ACCEL)"; return ;;
    tcg) echo "tcg (forced by VMBF_TESTBED_ACCEL)"; return ;;
  esac
  if [ ! -w /dev/kvm ]; then echo "tcg (no writable /dev/kvm)"; return; fi
  if [ -d /sys/module/kvm_pvm ]; then echo "tcg (/dev/kvm is kvm_pvm, without hardware virtualisation: Xen panics under it)"; return; fi
  if ! grep -q -E '\b(vmx|svm)\b' /proc/cpuinfo; then echo "tcg (no vmx/svm in /proc/cpuinfo)"; return; fi
  if [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; then echo "kvm (kvm_intel/kvm_amd)"; return; fi
  echo "tcg (unknown KVM flavour)"
}

# Reads QEMU's serial output: the whole console to console.log, host-timed
# lines to console.timed.log, the plan's "vmbf-testbed:" lines to the terminal.
pump() {
  local line t ms
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line//$'\r'/}
    printf '%s\n' "$line" >> "$OUT/console.log"
    ms=$(( ${EPOCHREALTIME/./} / 1000 - QSTART_MS ))
    t=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
    printf '%s %s\n' "$t" "$line" >> "$OUT/console.timed.log"
    case $line in
      *vmbf-testbed:*)
        printf '%s %s\n' "$t" "${line#*vmbf-testbed: }" >> "$OUT/markers"
        printf '  [qemu +%7ss] %s\n' "$t" "${line#*vmbf-testbed: }" >&2 ;;
      *"Panic on CPU"*|*"Kernel panic"*|*"FATAL TRAP"*|*"Reboot in five seconds"*)
        printf '  [qemu +%7ss] !! %s\n' "$t" "$line" >&2 ;;
      *)
        [ "$VERBOSE" = 1 ] && printf '  [qemu +%7ss] %s\n' "$t" "$line" >&2 ;;
    esac
  done
  return 0
}

update_fixtures() {
  local dst=$REPO/test/fixtures/timelines c size
  mkdir -p "$dst"
  for c in $CASES; do
    [ -s "$OUT/results/$c/timeline" ] || continue
    install -m 644 "$OUT/results/$c/timeline" "$dst/$c.timeline"
    # .txt, not .log: the repository ignores *.log
    size=$(stat -c %s "$OUT/results/$c/console.log" 2>/dev/null || echo 0)
    if [ "$size" -gt 0 ] && [ "$size" -lt 51200 ]; then install -m 644 "$OUT/results/$c/console.log" "$dst/$c.console.txt"; fi
  done
  # The summary describes the cases of this run: it replaces testbed-summary.md only when the run
  # covered every busybox-guest case, and testbed-summary-deb.md when it covered only Debian-guest ones.
  local summary="" missing_case=0 only_deb=1
  for c in $ALL_CASES; do case $c in deb-*) ;; *) case " $CASES " in *" $c "*) ;; *) missing_case=1 ;; esac ;; esac; done
  for c in $CASES; do case $c in deb-*) ;; *) only_deb=0 ;; esac; done
  if [ $missing_case = 0 ]; then summary=testbed-summary.md; elif [ $only_deb = 1 ]; then summary=testbed-summary-deb.md; fi
  if [ -z "$summary" ]; then log "fixtures updated in $dst (a partial run: the summary files are left as they are)"; return 0; fi
  local first _; read -r first _ <<< "$CASES"
  {
    echo "# Timelines recorded on a real Xen"
    echo
    echo "Recorded by \`testbed/run.sh --update-fixtures\` on $(date -u +%Y-%m-%d) ($(grep -m1 -o 'Xen [0-9.]* under QEMU ([^)]*)' "$OUT/results/$first/timeline" 2>/dev/null || echo 'Xen under QEMU')):"
    echo "\`<case>.timeline\` (format: src/driver/timeline.ts) and \`<case>.console.txt\` (the complete guest console, raw)."
    echo "Scenarios the testbed does not stage (a panic no rule names, a hang, the VM destroyed by someone else, xenstored dying) are derived from these in test/support/timelines.ts."
    echo
    cat "$OUT/summary.md"
  } > "$dst/$summary"
  log "fixtures updated in $dst ($summary)"
}

main "$@"; exit
