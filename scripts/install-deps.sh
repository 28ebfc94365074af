#!/usr/bin/env bash
# Installs the Debian 12 packages vmbootfail needs to build, run and test.
#   --runtime   only what a dom0 needs to run it (no -dev, no test tools)
#   --testbed   also what the real-Xen tier needs on the host (testbed/run.sh, npm run test:xen)
set -euo pipefail
runtime=(libxenstore4 libxenmisc4.17 libparted2 libext2fs2 libblkid1 parted e2fsprogs util-linux zstd xz-utils)
build=(g++ make python3 pkg-config libxen-dev libparted-dev libext2fs-dev comerr-dev libblkid-dev)
# gdisk, dosfstools, faketime: the kernel-oracle corpus generator (test/oracle/generate.mjs).
# grub-xen-host: GRUB 2 for Xen PV/PVH (pvgrub2) images, for the kernel = tests (test/46); it installs no boot loader.
# curl: the e2fsprogs test images from Debian's mirror (test/oracle/e2fsprogs-images.mjs, test/62).
tests=(xfsprogs btrfs-progs fdisk gdisk dosfstools faketime cpio xenstore-utils xen-utils-4.17 clang-format cmake valgrind
  grub-xen-host curl)
testbed=(qemu-system-x86 debootstrap)
want=("${runtime[@]}")
case ${1:-} in
  --runtime) ;;
  --testbed) want+=("${build[@]}" "${tests[@]}" "${testbed[@]}") ;;
  *) want+=("${build[@]}" "${tests[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { echo "install-deps: all ${#want[@]} packages present"; exit 0; }
echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
# Progress is shown (a minute of silence looks like a hang): apt's own lines, one per download and
# per unpacked package, without the terminal-only progress bar.
echo "install-deps: apt-get update"
"${sudo[@]}" apt-get update -q
echo "install-deps: apt-get install"
# xen-utils' maintainer scripts try to start services; there is no Xen here.
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}"
echo "install-deps: done"
