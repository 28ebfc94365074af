#!/bin/bash
# The testbed's plan, run inside dom0 from the work disk by vmbf-testbed-boot:
# the paper's experiment (normal boots and the four faults) as one `xl create`
# per case, each recorded by record.mjs into a timeline. Results go to
# /work/results/<case>/ and are read back on the host by run.sh.
#
# /work/plan/config (written by run.sh) sets CASES, CASE_LIMIT, ACCEL, PROJECT_STEPS, ENGINE_CASES,
# ENGINE_TIME_LIMIT, PROJECT_TESTS, RECORDER (standalone: record.mjs; project: the project's recorder).
set -u
PLAN=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(dirname "$PLAN")
G=$WORK/guest
R=$WORK/results
mkdir -p "$R"
CASES="normal"
CASE_LIMIT=180
ACCEL=unknown
PROJECT_STEPS=auto
ENGINE_CASES=""
ENGINE_TIME_LIMIT=90
RECORDER=standalone
PROJECT_TESTS=""
# shellcheck source=/dev/null
[ -f "$PLAN/config" ] && . "$PLAN/config"

say() {
  local m="vmbf-testbed: $*"
  echo "$m"
  printf '%s %s\n' "$(cut -d' ' -f1 /proc/uptime)" "$m" >> "$R/plan.log"
}

# Every case: name -> disk image (or special), root device, kernel, ramdisk, what it is.
case_setup() {
  image="" disk="" root=/dev/xvda1 kernel=$G/vmlinuz-$(cat "$G/kernel-version") ramdisk=$G/initrd-blk.img what=""
  case $1 in
    normal) image=normal-part.img what="normal boot, root on xvda1 (partitioned 64 MiB image)" ;;
    normal-whole-disk) image=normal-whole.img root=/dev/xvda what="normal boot, whole-disk ext4 (no partition table)" ;;
    vmce) disk=none what="VMCE: the disk line omitted" ;;
    uvde) disk=phy:/dev/loop6 what="UVDE: phy:/dev/loop6 with no file attached" ;;
    didf-partition-table) image=didf-partition-table.img what="DIDF: partition table zeroed (dd if=/dev/zero bs=4k count=1 on the disk)" ;;
    didf-superblock) image=didf-superblock.img what="DIDF: root superblock zeroed (dd if=/dev/zero bs=4k count=1 on xvda1)" ;;
    didf-superblock-whole-disk) image=didf-superblock-whole-disk.img root=/dev/xvda what="DIDF: whole-disk ext4, first 4 KiB zeroed" ;;
    didf-truncated-image) image=didf-truncated-image.img what="DIDF: the partitioned image cut short at 32 MiB (truncate -s 32M)" ;;
    uvke) image=normal-part.img ramdisk="" what="UVKE: Debian kernel (ext4 and xen-blkfront are modules) with no ramdisk" ;;
    uvke-initrd-without-blkfront) image=normal-part.img ramdisk=$G/initrd-noblk.img what="UVKE: initrd holding ext4 but not xen-blkfront" ;;
    not-pv-kernel) image=normal-part.img kernel=$G/not-pv-kernel what="UVKE: kernel file that is not a PV kernel (a static busybox ELF)" ;;
    didf-gpt-primary-zeroed) image=didf-gpt-primary-zeroed.img what="DIDF: GPT disk, primary header (LBA 1) zeroed, backup intact" ;;
    didf-superblock-checksum) image=didf-superblock-checksum.img what="DIDF: one byte of the root superblock changed, checksum stale" ;;
    didf-group-descriptors) image=didf-group-descriptors.img what="DIDF: group 1's inode table outside its group (debugfs set_bg)" ;;
    didf-journal) image=didf-journal.img what="DIDF: the root filesystem's journal superblock zeroed" ;;
    didf-feature-unknown) image=didf-feature-unknown.img what="DIDF: an incompatible ext4 feature bit no Linux knows (dirdata)" ;;
    uvke-btrfs-root) image=uvke-btrfs-root.img what="UVKE: a healthy btrfs root, the ramdisk holds only ext4 and xen-blkfront" ;;
    vmce-root-disk-missing) image=normal-part.img root=/dev/xvdb1 what="VMCE: root=/dev/xvdb1, but the config gives the VM only xvda" ;;
    vmce-root-partition-whole-disk) image=normal-whole.img root=/dev/xvda1 what="VMCE: root=/dev/xvda1 on a disk that holds a whole-disk ext4" ;;
    uvde-empty-backing) image=uvde-empty.img what="UVDE: the VBD's backing loop device is attached to a 0-byte file (0 sectors)" ;;
    *) return 1 ;;
  esac
}

domain_gone() { ! xl domid "$1" >/dev/null 2>&1; }

# prepare_case CASE DOMNAME DIR: loop device + xl config in DIR/domu.cfg; sets loopdev, what.
prepare_case() {
  local name=$1 dom=$2 dir=$3
  loopdev=""
  case_setup "$name" || { say "case $name: UNKNOWN case, skipped"; echo "$name unknown" >> "$R/errors"; return 1; }
  mkdir -p "$dir"
  # Leftovers from an earlier case must not disturb this one.
  domain_gone "$dom" || xl destroy "$dom" >/dev/null 2>&1
  if [ "$disk" = phy:/dev/loop6 ]; then
    losetup /dev/loop6 >/dev/null 2>&1 && losetup -d /dev/loop6
    [ -b /dev/loop6 ] || mknod -m 660 /dev/loop6 b 7 6
    if losetup /dev/loop6 >/dev/null 2>&1; then say "case $name: /dev/loop6 is attached, cannot inject UVDE"; fi
  fi
  if [ -n "$image" ]; then
    loopdev=$(losetup -f --show "$G/$image") || { say "case $name: losetup of $image failed"; echo "$name losetup" >> "$R/errors"; return 1; }
    [ "$loopdev" = /dev/loop6 ] && say "case $name: WARNING got /dev/loop6"
    disk=phy:$loopdev
  fi
  {
    echo "# vmbootfail testbed case $name: $what"
    echo "name = \"$dom\""
    echo 'type = "pv"'
    echo "kernel = \"$kernel\""
    [ -n "$ramdisk" ] && echo "ramdisk = \"$ramdisk\""
    echo "extra = \"root=$root console=hvc0\""
    echo 'memory = 256'
    echo 'vcpus = 1'
    [ "$disk" != none ] && echo "disk = [ '$disk,xvda,w' ]"
    echo 'on_poweroff = "destroy"'
    echo 'on_reboot = "destroy"'
    echo 'on_crash = "preserve"'
  } > "$dir/domu.cfg"
  return 0
}

# teardown_case CASE DOMNAME DIR: destroy (bounded), keep the console log, free the loop device.
teardown_case() {
  local name=$1 dom=$2 dir=$3
  if ! domain_gone "$dom"; then
    timeout 60 xl destroy "$dom" >> "$dir/xl-destroy.log" 2>&1 || say "case $name: xl destroy failed or timed out"
    for _ in $(seq 30); do domain_gone "$dom" && break; sleep 1; done
    domain_gone "$dom" || { say "case $name: domain $dom still exists after destroy"; echo "$name not-destroyed" >> "$R/errors"; }
  fi
  if [ -n "$loopdev" ]; then
    for _ in 1 2 3 4 5; do losetup -d "$loopdev" 2>/dev/null && break; sleep 1; done
  fi
}

# The recorded pass: record.mjs drives `xl create` and records every signal.
run_case() {
  local name=$1 dir=$R/$1 dom=vmbf-$1 image disk root kernel ramdisk what loopdev
  prepare_case "$name" "$dom" "$dir" || return
  local dmesg_before; dmesg_before=$(dmesg | wc -l)
  say "case $name: xl create ($what)"
  local t0=$SECONDS
  local recorder=$PLAN/record.mjs
  [ "$RECORDER" = project ] && project_ok && recorder=$PLAN/record-project.mjs
  timeout -k 5 $((CASE_LIMIT + 150)) node "$recorder" --config "$dir/domu.cfg" --name "$dom" \
    --out "$dir/timeline" --xl-log "$dir/xl-create.log" --until "$CASE_LIMIT" \
    --header "case $name: $what" \
    --header "Xen $XEN_VERSION under QEMU ($ACCEL), dom0 $(uname -r) with $XENSTORED, guest kernel $(cat "$G/kernel-version" 2>/dev/null), recorded $(date -u +%Y-%m-%dT%H:%MZ)" \
    > "$dir/recorder.out" 2> "$dir/recorder.err"
  local rc=$?
  [ $rc -eq 124 ] && say "case $name: TIMEOUT: the recorder did not finish in $((CASE_LIMIT + 150)) s"
  [ $rc -ne 0 ] && { echo "$name recorder-rc=$rc" >> "$R/errors"; tail -5 "$dir/recorder.err" | sed "s/^/vmbf-testbed:   /"; }
  # What the domain looks like when recording stopped.
  local domid; domid=$(xl domid "$dom" 2>/dev/null)
  {
    echo "## xl list -v"; xl list -v 2>&1
    if [ -n "$domid" ]; then
      echo "## xenstore /local/domain/$domid/device"; xenstore-ls -f "/local/domain/$domid/device" 2>&1
      echo "## xenstore /local/domain/0/backend/vbd/$domid"; xenstore-ls -f "/local/domain/0/backend/vbd/$domid" 2>&1
      echo "## vbd statistics"
      for s in /sys/bus/xen-backend/devices/vbd-"$domid"-*/statistics; do
        [ -d "$s" ] && (cd "$s" && grep . ./*) 2>&1
      done
    fi
  } > "$dir/end-state.txt"
  teardown_case "$name" "$dom" "$dir"
  cp "/var/log/xen/console/guest-$dom.log" "$dir/console.log" 2>/dev/null || : > "$dir/console.log"
  dmesg | tail -n +"$((dmesg_before + 1))" > "$dir/dom0-dmesg.txt"
  say "case $name: done in $((SECONDS - t0)) s: $(cat "$dir/recorder.out" 2>/dev/null)"
}

# The engine pass: the project's own `vmbootfail test` on the same config.
PROJECT=/opt/vmbootfail
engine_case() {
  local name=$1 dir=$R/$1/engine dom=vmbf-e-$1 image disk root kernel ramdisk what loopdev
  prepare_case "$name" "$dom" "$dir" || return
  local t0=$SECONDS rc=0
  timeout -k 5 $((ENGINE_TIME_LIMIT + 120)) node "$PROJECT/dist/src/cli/main.js" test --retries 0 \
    --time-limit "$ENGINE_TIME_LIMIT" --json "$dir/domu.cfg" > "$dir/report.json" 2> "$dir/stderr.txt" || rc=$?
  echo "$rc" > "$dir/exit-code"
  echo "$((SECONDS - t0))" > "$dir/wall-seconds"
  teardown_case "$name" "$dom" "$dir"
  # The console as xenconsoled logged it, to compare with what the engine saw.
  cp "/var/log/xen/console/guest-$dom.log" "$dir/console.log" 2>/dev/null || : > "$dir/console.log"
  local verdict
  verdict=$(node "$PLAN/engine-line.mjs" "$dir/report.json")
  say "engine $name: exit $rc in $((SECONDS - t0)) s: $verdict"
}

project_ok() { grep -q '^addon=ok' "$PROJECT/.testbed-build" 2>/dev/null && grep -q '^ts=ok' "$PROJECT/.testbed-build" 2>/dev/null; }

# ------------------------------------------------------------------ dom0 readiness
say "waiting for xenstored and xl"
ready=0
for _ in $(seq 180); do xl info >/dev/null 2>&1 && { ready=1; break; }; sleep 1; done
if [ $ready -ne 1 ]; then
  say "FATAL: 'xl info' did not work within 180 s"
  xl info 2>&1 | tail -5
  systemctl --no-pager status xen.service 2>&1 | tail -20
  echo "xl-info" >> "$R/errors"
  exit 3
fi
say "dom0 ready: xl info works (dom0 uptime $(cut -d' ' -f1 /proc/uptime) s)"
modprobe -a xen-blkback xen-gntdev loop 2>/dev/null
XEN_VERSION=$(xl info 2>/dev/null | awk -F': ' '/^xen_version/ {print $2}')
XENSTORED=$(pgrep -a -x oxenstored >/dev/null && echo oxenstored || { pgrep -x xenstored >/dev/null && echo xenstored || echo "no xenstored?"; })
# xenconsoled must keep guest logs (the recorder reads them).
if ! pgrep -a xenconsoled | grep -q -- '--log=guest'; then
  say "restarting xenconsoled with --log=guest"
  pkill -x xenconsoled; sleep 1
  mkdir -p /var/log/xen/console
  /usr/lib/xen-4.17/bin/xenconsoled --log=guest --log-dir=/var/log/xen/console --pid-file=/run/xenconsoled.pid
fi
{
  echo "## uname"; uname -a
  echo "## xl info"; xl info
  echo "## daemons"; pgrep -a -f 'xenstored|xenconsoled'
  echo "## node"; node --version
  echo "## project build"; cat /opt/vmbootfail/.testbed-build 2>/dev/null || echo "no project in this image"
  echo "## uptime at plan start"; cat /proc/uptime
} > "$R/env.txt" 2>&1
say "Xen $XEN_VERSION, $XENSTORED, accel $ACCEL; cases: $CASES"

# ------------------------------------------------------------------ the cases
for c in $CASES; do run_case "$c"; done

# ------------------------------------------------------------------ the project, inside this dom0
if [ "$PROJECT_STEPS" = off ]; then
  say "project steps off"
elif ! project_ok; then
  say "project steps SKIPPED: the project is not fully built in this image ($(tr '\n' ' ' < "$PROJECT/.testbed-build" 2>/dev/null))"
  echo "project-not-built" >> "$R/skipped"
else
  mkdir -p "$R/project"
  node "$PROJECT/dist/src/cli/main.js" capabilities --json > "$R/project/capabilities.json" 2>&1
  say "project: capabilities exit $?"
  for c in $ENGINE_CASES; do engine_case "$c"; done
  if [ -n "$PROJECT_TESTS" ]; then
    say "project: vitest $PROJECT_TESTS (against this dom0's xenstored, VMBF_TESTBED_DOM0=1)"
    t0=$SECONDS
    (cd "$PROJECT" && VMBF_TESTBED_DOM0=1 timeout -k 10 900 npx vitest run --reporter=verbose $PROJECT_TESTS) \
      > "$R/project/vitest.txt" 2>&1
    rc=$?
    echo "$rc" > "$R/project/vitest.rc"
    say "project: vitest exit $rc in $((SECONDS - t0)) s: $(grep -E 'Tests +[0-9]' "$R/project/vitest.txt" | tail -1)"
  fi
fi

say "cases finished (dom0 uptime $(cut -d' ' -f1 /proc/uptime) s)"
touch "$R/done"
