#!/usr/bin/env bash
# Builds the Xen testbed from Debian packages and caches it OUTSIDE the repo:
#   ${VMBF_TESTBED_CACHE:-$HOME/.cache/vmbootfail-testbed}
# Each stage has a stamp holding a hash of its inputs (its own recipe, package
# names and versions, the files it copies, the stages it builds on); a stage is
# rebuilt only when that hash changes. See testbed/README.md.
#
#   testbed/build.sh            build what changed
#   testbed/build.sh --force S  rebuild stage S (xen|rootfs|node|project|guest|debguest|dom0img) and what depends on it
#
# Environment:
#   VMBF_TESTBED_CACHE            cache directory (default ~/.cache/vmbootfail-testbed)
#   VMBF_TESTBED_MIRROR           Debian mirror (default http://deb.debian.org/debian)
#   VMBF_TESTBED_SOURCE=worktree  what of the project goes into dom0: worktree (tracked + untracked,
#                                 not ignored; default) or head (git archive HEAD)
#   VMBF_TESTBED_REQUIRE_PROJECT  1 (default): a failed addon/TypeScript build inside dom0 fails the build; 0 tolerates it
#                                 (default 0 while the addon is being written; set to 1 in CI once it builds)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
CACHE=${VMBF_TESTBED_CACHE:-$HOME/.cache/vmbootfail-testbed}
MIRROR=${VMBF_TESTBED_MIRROR:-http://deb.debian.org/debian}
SOURCE_MODE=${VMBF_TESTBED_SOURCE:-worktree}
REQUIRE_PROJECT=${VMBF_TESTBED_REQUIRE_PROJECT:-1}
SUITE=bookworm
XEN_PKG=xen-hypervisor-4.17-amd64

# dom0 root filesystem: debootstrap minbase + these.
ROOTFS_INCLUDE=systemd-sysv,udev,kmod,ca-certificates,procps
ROOTFS_PKGS=(
  linux-image-amd64 xen-utils-4.17 xenstore-utils e2fsprogs parted util-linux busybox initramfs-tools
  # a guest's root on an LVM logical volume (case deb-normal-lvm)
  lvm2
  # the project's runtime (scripts/install-deps.sh --runtime)
  libxenstore4 libxenmisc4.17 libparted2 libext2fs2 libblkid1 zstd xz-utils cpio fdisk
  # the project's build (scripts/install-deps.sh)
  g++ make python3 pkg-config libxen-dev libparted-dev libext2fs-dev comerr-dev libblkid-dev
)
DOM0_IMG_SIZE=4G

force=""
while [ $# -gt 0 ]; do
  case $1 in
    --force) force=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

log() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot, mke2fs of a root filesystem)"
for t in debootstrap mke2fs debugfs mkfs.btrfs parted apt-get dpkg-deb sha256sum chroot git node; do
  command -v "$t" >/dev/null || die "missing tool: $t (apt-get install debootstrap e2fsprogs parted; Node 20 on the host)"
done

mkdir -p "$CACHE/stamps" "$CACHE/downloads"
ROOTFS=$CACHE/rootfs

hash_text() { sha256sum | cut -c1-16; }
hash_files() { # hash_files FILE... : content hash of files (names included)
  local f
  for f in "$@"; do printf '%s\n' "$f"; sha256sum < "$f"; done | hash_text
}
stamp_of() { cat "$CACHE/stamps/$1" 2>/dev/null || echo none; }

# stage NAME KEY FUNCTION: runs FUNCTION unless the stamp of NAME already holds KEY.
stage() {
  local name=$1 key=$2 fn=$3 t0=$SECONDS
  if [ "$force" != "$name" ] && [ "$(stamp_of "$name")" = "$key" ]; then
    log "$name: up to date ($key)"
    return 0
  fi
  rm -f "$CACHE/stamps/$name"
  # What lives inside this stage's output must be rebuilt after it.
  local d; for d in ${DEPENDENTS[$name]:-}; do rm -f "$CACHE/stamps/$d"; done
  log "$name: building ($key)"
  "$fn"
  echo "$key" > "$CACHE/stamps/$name"
  log "$name: built in $((SECONDS - t0)) s"
  return 0
}
declare -A DEPENDENTS=([rootfs]="node project guest debguest dom0img" [node]="project dom0img" [project]="dom0img")

# ---------------------------------------------------------------- chroot helpers
chroot_mounted=0
chroot_up() {
  [ $chroot_mounted -eq 1 ] && return 0
  mountpoint -q "$ROOTFS/proc" || mount -t proc proc "$ROOTFS/proc"
  mountpoint -q "$ROOTFS/sys" || mount -t sysfs sysfs "$ROOTFS/sys"
  mkdir -p "$ROOTFS/dev/pts" "$ROOTFS/var/cache/vmbf-npm" "$CACHE/npm-cache"
  mountpoint -q "$ROOTFS/dev/pts" || mount -t devpts -o newinstance,ptmxmode=0666 devpts "$ROOTFS/dev/pts"
  mountpoint -q "$ROOTFS/var/cache/vmbf-npm" || mount --bind "$CACHE/npm-cache" "$ROOTFS/var/cache/vmbf-npm"
  cp -L /etc/resolv.conf "$ROOTFS/etc/resolv.conf" 2>/dev/null || true
  chroot_mounted=1
}
chroot_down() {
  local m
  for m in var/cache/vmbf-npm dev/pts sys proc; do
    mountpoint -q "$ROOTFS/$m" 2>/dev/null && { umount "$ROOTFS/$m" || umount -l "$ROOTFS/$m"; }
  done
  chroot_mounted=0
}
# Never delete a tree that still has something mounted inside it.
safe_rm() {
  local d
  for d in "$@"; do
    [ -e "$d" ] || continue
    if findmnt -rn -o TARGET | grep -q "^$(realpath "$d")/"; then die "refusing to delete $d: something is mounted inside"; fi
    rm -rf "$d"
  done
}
in_chroot() {
  chroot_up
  chroot "$ROOTFS" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}
trap 'chroot_down' EXIT

# ---------------------------------------------------------------- stage: xen
xen_version() { apt-cache show --no-all-versions "$XEN_PKG" 2>/dev/null | sed -n 's/^Version: //p' | head -1; }
build_xen() {
  local tmp; tmp=$(mktemp -d "$CACHE/xen.tmp.XXXX")
  (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$XEN_PKG" >/dev/null) || die "apt-get download $XEN_PKG failed (apt-get update?)"
  dpkg-deb -x "$tmp"/*.deb "$tmp/x"
  mkdir -p "$CACHE/xen"
  # QEMU's multiboot loader needs the uncompressed hypervisor.
  gzip -dc "$tmp"/x/boot/xen-4.17-amd64.gz > "$CACHE/xen/xen-4.17-amd64"
  cp "$tmp"/x/boot/xen-4.17-amd64.config "$CACHE/xen/" 2>/dev/null || true
  basename "$tmp"/*.deb > "$CACHE/xen/package"
  rm -rf "$tmp"
}

# ---------------------------------------------------------------- stage: rootfs
build_rootfs() {
  chroot_down
  safe_rm "$ROOTFS.new"
  local new=$ROOTFS.new
  debootstrap --variant=minbase --include="$ROOTFS_INCLUDE" --cache-dir="$CACHE/downloads" \
    "$SUITE" "$new" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 \
    || { tail -30 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
  safe_rm "$ROOTFS"
  mv "$new" "$ROOTFS"
  cat > "$ROOTFS/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
EOF
  # No daemon may start inside the chroot.
  printf '#!/bin/sh\nexit 101\n' > "$ROOTFS/usr/sbin/policy-rc.d"; chmod 755 "$ROOTFS/usr/sbin/policy-rc.d"
  mkdir -p "$ROOTFS/etc/initramfs-tools/conf.d"
  echo 'COMPRESS=gzip' > "$ROOTFS/etc/initramfs-tools/conf.d/vmbf-compress"
  # dom0's /etc/fstab decides what the initramfs fsck hook includes: root is ext4 on /dev/vda.
  echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' > "$ROOTFS/etc/fstab"
  in_chroot apt-get update -q > "$CACHE/apt.log" 2>&1 || { tail -20 "$CACHE/apt.log" >&2; die "apt-get update in chroot failed"; }
  in_chroot apt-get install -y -q --no-install-recommends "${ROOTFS_PKGS[@]}" >> "$CACHE/apt.log" 2>&1 \
    || { tail -30 "$CACHE/apt.log" >&2; die "apt-get install in chroot failed (log: $CACHE/apt.log)"; }
  in_chroot apt-get clean
  chroot_down
  local kver; kver=$(cd "$ROOTFS/lib/modules" && ls | sort -V | tail -1)
  [ -f "$ROOTFS/boot/vmlinuz-$kver" ] && [ -f "$ROOTFS/boot/initrd.img-$kver" ] || die "no kernel/initrd for $kver in rootfs"
  echo "$kver" > "$ROOTFS/etc/vmbf-kernel-version"
  mkdir -p "$CACHE/dom0"
  cp "$ROOTFS/boot/vmlinuz-$kver" "$CACHE/dom0/vmlinuz"
  cp "$ROOTFS/boot/initrd.img-$kver" "$CACHE/dom0/initrd.img"
  echo "$kver" > "$CACHE/dom0/kernel-version"
}

# ---------------------------------------------------------------- stage: node
# Debian bookworm's nodejs is 18; the project needs 20. The host's Node 20 (same
# Debian release, so the same glibc) is copied in: node, npm, the headers.
NODE_BIN=$(readlink -f "$(command -v node)")
NODE_PREFIX=$(cd "$(dirname "$NODE_BIN")/.." && pwd)
build_node() {
  local r=$ROOTFS
  [ "$("$NODE_BIN" -p 'process.versions.node.split(".")[0]')" -ge 20 ] || die "host node is $("$NODE_BIN" --version); need >= 20"
  install -D -m 755 "$NODE_BIN" "$r/usr/local/bin/node"
  safe_rm "$r/usr/local/lib/node_modules" "$r/usr/local/include/node"
  mkdir -p "$r/usr/local/lib/node_modules" "$r/usr/local/include"
  cp -a "$NODE_PREFIX/lib/node_modules/npm" "$r/usr/local/lib/node_modules/"
  [ -d "$NODE_PREFIX/include/node" ] || die "no Node headers at $NODE_PREFIX/include/node (node-gyp needs them offline)"
  cp -a "$NODE_PREFIX/include/node" "$r/usr/local/include/"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$r/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$r/usr/local/bin/npx"
  in_chroot node --version > /dev/null || die "copied node does not run in the rootfs"
  in_chroot npm --version > /dev/null || die "copied npm does not run in the rootfs"
}

# ---------------------------------------------------------------- stage: project
# The project's files: tracked and untracked-but-not-ignored files of the work
# tree (or HEAD), without the testbed itself and the timelines it produces.
project_files() {
  git -C "$REPO" ls-files -z -co --exclude-standard -- . ':!testbed' ':!test/fixtures/timelines' \
    | while IFS= read -r -d '' f; do [ -f "$REPO/$f" ] && printf '%s\0' "$f"; done
}
project_key() {
  if [ "$SOURCE_MODE" = head ]; then git -C "$REPO" rev-parse HEAD
  else (cd "$REPO" && project_files | xargs -0 -r sha256sum | hash_text); fi
}
build_project() {
  local dst=$ROOTFS/opt/vmbootfail status=$ROOTFS/opt/vmbootfail/.testbed-build
  safe_rm "$dst"; mkdir -p "$dst"
  if [ "$SOURCE_MODE" = head ]; then
    git -C "$REPO" archive HEAD | tar -x -C "$dst"
  else
    (cd "$REPO" && project_files | tar --null -T - -cf -) | tar -x -C "$dst"
  fi
  local -a env=(npm_config_cache=/var/cache/vmbf-npm npm_config_update_notifier=false
    npm_config_fund=false npm_config_audit=false)
  # npm in the chroot trusts what the host's Node trusts (a TLS-inspecting
  # proxy's CA, for example) and uses the host's proxy and registry settings;
  # none of this stays in the image.
  local ca=${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}
  if [ -f "$ca" ]; then cp "$ca" "$ROOTFS/tmp/vmbf-host-ca.crt"; env+=(NODE_EXTRA_CA_CERTS=/tmp/vmbf-host-ca.crt); fi
  local v
  for v in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy npm_config_registry; do
    [ -n "${!v:-}" ] && env+=("$v=${!v}")
  done
  local reg; reg=$(npm config get registry 2>/dev/null || true)
  [ -n "$reg" ] && env+=("npm_config_registry=$reg")
  : > "$status"
  # Dependencies first, without lifecycle scripts: the package's own "install"
  # script is `node-gyp rebuild`, which is run (and judged) separately below.
  if ! in_chroot /usr/bin/env "${env[@]}" sh -c 'cd /opt/vmbootfail && (npm ci --ignore-scripts || npm install --ignore-scripts)' \
      > "$CACHE/project-npm.log" 2>&1; then
    tail -20 "$CACHE/project-npm.log" >&2
    die "npm ci inside the dom0 rootfs failed (log: $CACHE/project-npm.log)"
  fi
  echo "deps=ok" >> "$status"
  local part failed=()
  for part in addon ts; do
    local cmd
    case $part in
      addon) cmd='node scripts/node-gyp.mjs rebuild' ;;
      ts) cmd='npx tsc -p tsconfig.json' ;;
    esac
    if in_chroot /usr/bin/env "${env[@]}" sh -c "cd /opt/vmbootfail && $cmd" > "$CACHE/project-$part.log" 2>&1; then
      echo "$part=ok" >> "$status"
    else
      echo "$part=failed" >> "$status"; failed+=("$part")
      log "project: '$cmd' FAILED inside the dom0 rootfs (log: $CACHE/project-$part.log); last lines:"
      tail -15 "$CACHE/project-$part.log" | sed 's/^/    /' >&2
    fi
  done
  chroot_down
  rm -f "$ROOTFS/tmp/vmbf-host-ca.crt"
  if [ ${#failed[@]} -gt 0 ]; then
    if [ "$REQUIRE_PROJECT" = 1 ]; then die "project build failed: ${failed[*]} (VMBF_TESTBED_REQUIRE_PROJECT=1)"; fi
    log "project: NOT fully built (${failed[*]}); dom0 runs the shell/JS recorder only."
    log "project: this is tolerated while VMBF_TESTBED_REQUIRE_PROJECT=0 (set it to 1 once the addon builds)."
  fi
}

# ---------------------------------------------------------------- stage: guest
# The domU pieces, all from Debian packages: the dom0's kernel (PV-capable), two
# small initramfs-tools initrds (xen-blkfront + ext4, and ext4 only), a
# busybox-static root on 64 MiB ext4 disks, and the fault variants.
GUEST=$CACHE/guest
busybox_version() { apt-cache show --no-all-versions busybox-static 2>/dev/null | sed -n 's/^Version: //p' | head -1; }
pvgrub_version() { apt-cache show --no-all-versions grub-xen-host 2>/dev/null | sed -n 's/^Version: //p' | head -1; }
# An older guest kernel, for a filesystem feature the guest's kernel does not know (case
# uvke-xfs-feature-newer). No ext4 incompat feature is newer than 5.2, and 5.10 (Debian 11, still on
# Debian's archive) is the oldest kernel there, so the feature is xfs's nrext64 (Linux 5.19), which
# bookworm's mkfs.xfs writes. Pinned by checksum: bullseye no longer changes.
OLD_KPKG=linux-image-5.10.0-32-amd64_5.10.223-1_amd64.deb
OLD_KPKG_PATH=pool/main/l/linux-signed-amd64
OLD_KPKG_SHA256=86a6792f3a03ab15a643f385830cdaa921f15e3e9c8bf63aa55a9243c62fc797
OLD_KVER=5.10.0-32-amd64
make_initrd() { # make_initrd NAME MODULE... (KVER=version, default the dom0's kernel)
  local name=$1; shift
  local conf=/tmp/vmbf-initrd-$name
  rm -rf "$ROOTFS$conf"; cp -a "$ROOTFS/etc/initramfs-tools" "$ROOTFS$conf"
  sed -i -e 's/^MODULES=.*/MODULES=list/' -e 's/^BUSYBOX=.*/BUSYBOX=y/' -e 's/^COMPRESS=.*/COMPRESS=gzip/' "$ROOTFS$conf/initramfs.conf"
  printf '%s\n' "$@" > "$ROOTFS$conf/modules"
  in_chroot mkinitramfs -d "$conf" -o "/tmp/initrd-$name.img" "${KVER:-$(cat "$ROOTFS/etc/vmbf-kernel-version")}" \
    > "$CACHE/initrd-$name.log" 2>&1 || { tail "$CACHE/initrd-$name.log" >&2; die "mkinitramfs $name failed"; }
  mv "$ROOTFS/tmp/initrd-$name.img" "$GUEST.new/initrd-$name.img"
  rm -rf "$ROOTFS$conf"
}
# xfs_protofile DIR: an mkfs.xfs protofile of the tree DIR (xfsprogs 6.1's mkfs cannot copy a directory).
# Names are the testbed's own busybox tree: no spaces; modes lose set-id and sticky bits.
xfs_protofile() {
  printf '/dev/null\n0 0\nd--755 0 0\n'
  xfs_proto_dir "$1" " "
  printf '$\n'
}
xfs_proto_dir() { # xfs_proto_dir DIR INDENT
  local e n m
  for e in "$1"/* "$1"/.[!.]*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    n=${e##*/} m=$(stat -c %a "$e"); m=${m: -3}
    if [ -L "$e" ]; then printf '%s%s l--777 0 0 %s\n' "$2" "$n" "$(readlink "$e")"
    elif [ -d "$e" ]; then printf '%s%s d--%s 0 0\n' "$2" "$n" "$m"; xfs_proto_dir "$e" "$2 "; printf '%s$\n' "$2"
    elif [ -f "$e" ]; then printf '%s%s ---%s 0 0 %s\n' "$2" "$n" "$m" "$e"
    fi
  done
}
build_guest() {
  safe_rm "$GUEST.new"; mkdir -p "$GUEST.new"
  local kver; kver=$(cat "$ROOTFS/etc/vmbf-kernel-version")
  # Debian's names, so tools that look for config-<version> beside the kernel find it.
  cp "$ROOTFS/boot/vmlinuz-$kver" "$GUEST.new/vmlinuz-$kver"
  cp "$ROOTFS/boot/config-$kver" "$GUEST.new/config-$kver"
  ln -s "vmlinuz-$kver" "$GUEST.new/vmlinuz"
  make_initrd blk xen-blkfront ext4
  make_initrd noblk ext4
  # The old kernel and a ramdisk for it, its modules in the rootfs only while mkinitramfs runs.
  local deb=$CACHE/downloads/$OLD_KPKG ktmp=$CACHE/guest.oldk
  mkdir -p "$CACHE/downloads"
  if ! echo "$OLD_KPKG_SHA256  $deb" | sha256sum -c --quiet > /dev/null 2>&1; then
    curl -fsS -m 600 -o "$deb.part" "$MIRROR/$OLD_KPKG_PATH/$OLD_KPKG" || die "download of $OLD_KPKG failed"
    echo "$OLD_KPKG_SHA256  $deb.part" | sha256sum -c --quiet || die "$OLD_KPKG: checksum mismatch"
    mv "$deb.part" "$deb"
  fi
  safe_rm "$ktmp"; dpkg-deb -x "$deb" "$ktmp"
  cp "$ktmp/boot/vmlinuz-$OLD_KVER" "$ktmp/boot/config-$OLD_KVER" "$GUEST.new/"
  cp -a "$ktmp/lib/modules/$OLD_KVER" "$ROOTFS/lib/modules/"
  cp "$ktmp/boot/config-$OLD_KVER" "$ROOTFS/boot/"
  in_chroot depmod "$OLD_KVER"
  KVER=$OLD_KVER make_initrd old-xfs xen-blkfront xfs
  safe_rm "$ROOTFS/lib/modules/$OLD_KVER"; rm -f "$ROOTFS/boot/config-$OLD_KVER"
  safe_rm "$ktmp"
  chroot_down

  # busybox root
  local tmp; tmp=$(mktemp -d "$CACHE/guest.tmp.XXXX")
  (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root busybox-static >/dev/null) || die "apt-get download busybox-static failed"
  dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/bb"
  local root=$tmp/root
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,root,var/log}
  install -m 755 "$tmp/bb/bin/busybox" "$root/bin/busybox"
  local applet
  for applet in $("$root/bin/busybox" --list-full); do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
  done
  cp -a "$HERE/guest/rootfs/." "$root/"
  # The not-a-PV-kernel case boots an ELF with no Xen notes: busybox itself.
  cp "$tmp/bb/bin/busybox" "$GUEST.new/not-pv-kernel"
  # pvgrub2, GRUB 2 for Xen PV, as a kernel = (case deb-normal-pvgrub): Debian's grub-xen-host image,
  # whose embedded config reads /boot/grub/grub.cfg from the guest's disks.
  (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root grub-xen-host >/dev/null) || die "apt-get download grub-xen-host failed"
  dpkg-deb -x "$tmp"/grub-xen-host_*.deb "$tmp/pvgrub"
  cp "$tmp/pvgrub/usr/lib/grub-xen/grub-x86_64-xen.bin" "$GUEST.new/pvgrub-x86_64-xen.bin"

  # 64 MiB disks. Partitioned: one primary partition, sectors 2048..131071 (63 MiB).
  mke2fs -q -F -t ext4 -L domuroot -d "$root" "$tmp/part-fs.img" 63M > /dev/null
  truncate -s 64M "$GUEST.new/normal-part.img"
  parted -s "$GUEST.new/normal-part.img" mklabel msdos mkpart primary ext4 2048s 131071s
  dd if="$tmp/part-fs.img" of="$GUEST.new/normal-part.img" bs=1M seek=1 conv=notrunc,sparse status=none
  mke2fs -q -F -t ext4 -L domuroot -d "$root" "$GUEST.new/normal-whole.img" 64M > /dev/null

  # Issue 8's disk faults, each on a copy of the root filesystem before it goes into the partition.
  # put_part FS IMG [LABEL]: a 64 MiB disk (65 MiB for GPT) with one 63 MiB partition at 1 MiB holding FS.
  put_part() {
    truncate -s "$([ "${3:-msdos}" = gpt ] && echo 65M || echo 64M)" "$2"  # GPT's backup needs the last 33 sectors
    parted -s "$2" mklabel "${3:-msdos}" mkpart "$([ "${3:-msdos}" = gpt ] && echo root || echo primary)" ext4 2048s 131071s
    dd if="$1" of="$2" bs=1M seek=1 conv=notrunc,sparse status=none
  }
  local f=$tmp/fault-fs.img blk
  put_part "$tmp/part-fs.img" "$GUEST.new/didf-gpt-primary-zeroed.img" gpt
  dd if=/dev/zero of="$GUEST.new/didf-gpt-primary-zeroed.img" bs=512 count=1 seek=1 conv=notrunc status=none
  cp --sparse=always "$tmp/part-fs.img" "$f"                         # one byte of the superblock, checksum stale
  printf '\x58' | dd of="$f" bs=1 seek=$((1024 + 0x78)) conv=notrunc status=none
  put_part "$f" "$GUEST.new/didf-superblock-checksum.img"
  mke2fs -q -F -t ext4 -O ^flex_bg -L domuroot -d "$root" "$f" 63M > /dev/null
  debugfs -w -R 'set_bg 1 inode_table 5' "$f" > /dev/null 2>&1        # group 1's inode table outside group 1
  debugfs -w -R 'set_bg 1 checksum calc' "$f" > /dev/null 2>&1
  put_part "$f" "$GUEST.new/didf-group-descriptors.img"
  cp --sparse=always "$tmp/part-fs.img" "$f"                         # the journal superblock zeroed
  blk=$(debugfs -R 'bmap <8> 0' "$f" 2> /dev/null)
  [ "${blk:-0}" -gt 0 ] || die "no journal block in the guest root filesystem"
  dd if=/dev/zero of="$f" bs=1024 count=1 seek="$blk" conv=notrunc status=none
  put_part "$f" "$GUEST.new/didf-journal.img"
  cp --sparse=always "$tmp/part-fs.img" "$f"                         # an incompat feature bit no Linux has
  debugfs -w -R 'feature dirdata' "$f" > /dev/null 2>&1
  put_part "$f" "$GUEST.new/didf-feature-unknown.img"
  # A healthy btrfs root, with the ramdisk that holds only ext4 and xen-blkfront.
  truncate -s 63M "$f"
  mkfs.btrfs -q -f -M -L domuroot --rootdir "$root" "$f" > /dev/null
  put_part "$f" "$GUEST.new/uvke-btrfs-root.img"
  # A healthy xfs root with nrext64 (Linux 5.19), for the 5.10 kernel. mkfs.xfs needs 300 MB.
  xfs_protofile "$root" > "$tmp/xfs.proto"
  truncate -s 320M "$f"
  mkfs.xfs -q -f -L domuroot -i nrext64=1 -p "$tmp/xfs.proto" "$f" > /dev/null || die "mkfs.xfs -i nrext64=1 failed"
  truncate -s 321M "$GUEST.new/uvke-xfs-feature-newer.img"
  parted -s "$GUEST.new/uvke-xfs-feature-newer.img" mklabel msdos mkpart primary xfs 2048s $((2048 + 320 * 2048 - 1))s
  dd if="$f" of="$GUEST.new/uvke-xfs-feature-newer.img" bs=1M seek=1 conv=notrunc,sparse status=none
  : > "$GUEST.new/uvde-empty.img"                                     # a backing file of 0 bytes
  rm -f "$f"
  rm -rf "$tmp"

  # The faults, injected the paper's way (dd if=/dev/zero ... bs=4k count=1):
  local g=$GUEST.new
  cp --sparse=always "$g/normal-part.img" "$g/didf-partition-table.img"   # the MBR (sector 0)
  dd if=/dev/zero of="$g/didf-partition-table.img" bs=4k count=1 conv=notrunc status=none
  cp --sparse=always "$g/normal-part.img" "$g/didf-superblock.img"        # partition 1 = /dev/xvda1 at 1 MiB
  dd if=/dev/zero of="$g/didf-superblock.img" bs=4k count=1 seek=256 conv=notrunc status=none
  cp --sparse=always "$g/normal-whole.img" "$g/didf-superblock-whole-disk.img" # whole-disk fs = /dev/xvda
  dd if=/dev/zero of="$g/didf-superblock-whole-disk.img" bs=4k count=1 conv=notrunc status=none
  # Not one of the paper's faults: an image copy cut short, half of partition 1 gone.
  cp --sparse=always "$g/normal-part.img" "$g/didf-truncated-image.img"
  truncate -s 32M "$g/didf-truncated-image.img"
  echo "$kver" > "$g/kernel-version"
  echo "$OLD_KVER" > "$g/old-kernel-version"
  safe_rm "$GUEST"; mv "$GUEST.new" "$GUEST"
}

# ---------------------------------------------------------------- stage: debguest
# A production-like Debian 12 guest (issue 11): debootstrap bookworm minbase +
# systemd, udev, initramfs-tools; the dom0 stage's kernel with a trimmed module
# tree (block, xen, md, fs, crypto, lib, arch: about 60 MB of the 396 MB);
# fstab by UUID (root, and a data disk at /data); root locked as in cloud images
# (root:*); a hand-written /boot/grub/grub.cfg that pygrub reads; an
# initramfs-tools initrd in /boot, and two dracut ramdisks (with and without
# xen-blkfront) made in a throwaway copy (dracut and initramfs-tools conflict).
# Output: $CACHE/debguest/ (the disk images, and the kernel and ramdisks copied
# out for direct-kernel boots) and $CACHE/debguest.img, an ext4 disk holding
# that directory, which run.sh gives QEMU as a third drive (snapshot=on) and
# the plan mounts at /debguest in dom0.
DEBG=$CACHE/debguest
DEBG_INCLUDE=systemd,systemd-sysv,udev,kmod,initramfs-tools,e2fsprogs
DEBG_ROOT_MIB=1024
DEBG_ROOT_UUID=6b0e8a52-3c1d-4f7e-9b2a-0d1e5c7f4a01   # root filesystem (partition 1 of the root disk)
DEBG_DATA_UUID=6b0e8a52-3c1d-4f7e-9b2a-0d1e5c7f4a02   # the data disk, in fstab at /data
DEBG_OTHER_UUID=6b0e8a52-3c1d-4f7e-9b2a-0d1e5c7f4a03  # another data disk: a UUID fstab does not name
DEBG_OLD_KVER=6.1.0-13-amd64                          # what a stale grub.cfg names (not in /boot)
debg_mounts=()
debg_chroot_up() { # debg_chroot_up TREE
  local m
  for m in proc sys dev; do
    mountpoint -q "$1/$m" && continue
    case $m in
      proc) mount -t proc proc "$1/proc" ;;
      sys) mount -t sysfs sysfs "$1/sys" ;;
      dev) mount --bind /dev "$1/dev" ;;
    esac
    debg_mounts+=("$1/$m")
  done
  cp -L /etc/resolv.conf "$1/etc/resolv.conf" 2>/dev/null || true
}
debg_chroot_down() {
  local m i
  for ((i = ${#debg_mounts[@]} - 1; i >= 0; i--)); do
    m=${debg_mounts[$i]}
    if mountpoint -q "$m" 2>/dev/null; then umount "$m" || umount -l "$m"; fi
  done
  debg_mounts=()
}
debg_in() { # debg_in TREE CMD...
  local t=$1; shift
  debg_chroot_up "$t"
  chroot "$t" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}
debg_grub_cfg() { # debg_grub_cfg KVER: a Debian grub.cfg reduced to what pygrub reads
  cat <<EOF
# written by testbed/build.sh (no grub is installed: pygrub reads this file from dom0)
set default=0
set timeout=0
menuentry 'Debian GNU/Linux 12 (bookworm)' {
	linux /boot/vmlinuz-$1 root=UUID=$DEBG_ROOT_UUID ro console=hvc0
	initrd /boot/initrd.img-$1
}
EOF
}
debg_put_root() { # debg_put_root FS IMG: MBR, one partition from 1 MiB to the end holding FS
  truncate -s "${DEBG_ROOT_MIB}M" "$2"
  parted -s "$2" mklabel msdos mkpart primary ext4 2048s "$((DEBG_ROOT_MIB * 2048 - 1))s"
  dd if="$1" of="$2" bs=1M seek=1 conv=notrunc,sparse status=none
}
debg_zstd_kernel() { # debg_zstd_kernel IN OUT: the bzImage IN with its xz payload recompressed with zstd
  # What CONFIG_KERNEL_ZSTD builds (Ubuntu's, Arch's, NixOS's kernels): the header's payload_length is
  # set to the new payload, which ends, as every non-gzip payload does, in its 4-byte uncompressed size.
  node -e '
    const fs = require("fs"), cp = require("child_process");
    const [inp, out] = process.argv.slice(1);
    const b = fs.readFileSync(inp);
    const off = (b[0x1f1] + 1) * 512 + b.readUInt32LE(0x248), len = b.readUInt32LE(0x24c);
    if (b.toString("hex", off, off + 6) !== "fd377a585a00") throw new Error(inp + ": the payload is not xz");
    const elf = cp.execFileSync("xz", ["-dcq", "--single-stream"], { input: b.subarray(off, off + len - 4), maxBuffer: 1 << 30 });
    const z = cp.execFileSync("zstd", ["-3", "-cq"], { input: elf, maxBuffer: 1 << 30 });
    const size = Buffer.alloc(4); size.writeUInt32LE(elf.length);
    const payload = Buffer.concat([z, size]);
    const head = Buffer.from(b.subarray(0, off)); head.writeUInt32LE(payload.length, 0x24c);
    fs.writeFileSync(out, Buffer.concat([head, payload, b.subarray(off + len)]));
  ' "$1" "$2"
}
build_debguest() {
  chroot_down
  local kver; kver=$(cat "$ROOTFS/etc/vmbf-kernel-version")
  local tmp; tmp=$(mktemp -d "$CACHE/debguest.tmp.XXXX")
  local t=$tmp/root d=$DEBG.new t0=$SECONDS
  safe_rm "$d"; mkdir -p "$d"
  trap 'debg_chroot_down; chroot_down' EXIT
  debootstrap --variant=minbase --include="$DEBG_INCLUDE" --cache-dir="$CACHE/downloads" \
    "$SUITE" "$t" "$MIRROR" > "$CACHE/debguest-debootstrap.log" 2>&1 \
    || { tail -30 "$CACHE/debguest-debootstrap.log" >&2; die "debootstrap of the Debian guest failed (log: $CACHE/debguest-debootstrap.log)"; }
  log "debguest: debootstrap $((SECONDS - t0)) s"
  printf '#!/bin/sh\nexit 101\n' > "$t/usr/sbin/policy-rc.d"; chmod 755 "$t/usr/sbin/policy-rc.d"
  # The dom0's kernel (PV and PVH capable) with the modules a Xen guest needs.
  local km=$ROOTFS/lib/modules/$kver
  mkdir -p "$t/lib/modules/$kver"
  cp -a "$km"/modules.order "$km"/modules.builtin "$km"/modules.builtin.modinfo "$t/lib/modules/$kver/"
  (cd "$km" && cp -a --parents kernel/arch kernel/block kernel/crypto kernel/fs kernel/lib kernel/mm \
    kernel/drivers/block kernel/drivers/xen kernel/drivers/md kernel/drivers/net/xen-netfront.ko "$t/lib/modules/$kver/")
  cp "$ROOTFS/boot/vmlinuz-$kver" "$ROOTFS/boot/config-$kver" "$t/boot/"
  debg_in "$t" depmod "$kver"
  # initramfs-tools as a small cloud image has it: only the listed modules
  # (testbed.md: Debian's default, 131 MB unpacked, crashed a 256 MB domU).
  sed -i -e 's/^MODULES=.*/MODULES=list/' -e 's/^COMPRESS=.*/COMPRESS=gzip/' "$t/etc/initramfs-tools/initramfs.conf"
  printf '%s\n' xen-blkfront ext4 >> "$t/etc/initramfs-tools/modules"
  debg_in "$t" mkinitramfs -o "/boot/initrd.img-$kver" "$kver" > "$CACHE/debguest-initrd.log" 2>&1 \
    || { tail "$CACHE/debguest-initrd.log" >&2; die "mkinitramfs in the Debian guest failed"; }
  # fstab by UUID, hostname, root locked (cloud images: root:*), no machine-id yet.
  cat > "$t/etc/fstab" <<EOF
# <file system> <mount point> <type> <options> <dump> <pass>
UUID=$DEBG_ROOT_UUID / ext4 errors=remount-ro 0 1
UUID=$DEBG_DATA_UUID /data ext4 defaults 0 2
EOF
  mkdir -p "$t/data" "$t/boot/grub"
  echo debguest > "$t/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 debguest\n' > "$t/etc/hosts"
  debg_in "$t" usermod -p '*' root
  : > "$t/etc/machine-id"
  debg_grub_cfg "$kver" > "$t/boot/grub/grub.cfg"
  # dracut conflicts with initramfs-tools: its ramdisks are made in a throwaway copy.
  local dc=$tmp/dracut
  debg_chroot_down
  cp -a "$t" "$dc"
  t0=$SECONDS
  debg_in "$dc" sh -c 'apt-get update -q && apt-get install -y -q --no-install-recommends dracut' > "$CACHE/debguest-dracut.log" 2>&1 \
    || { tail -20 "$CACHE/debguest-dracut.log" >&2; die "apt-get install dracut in the guest copy failed"; }
  debg_in "$dc" dracut -f --no-hostonly --kver "$kver" --add-drivers "xen-blkfront ext4" /tmp/initrd-dracut.img >> "$CACHE/debguest-dracut.log" 2>&1 \
    || { tail -20 "$CACHE/debguest-dracut.log" >&2; die "dracut failed"; }
  debg_in "$dc" dracut -f --no-hostonly --kver "$kver" --omit-drivers "xen-blkfront" /tmp/initrd-dracut-noblk.img >> "$CACHE/debguest-dracut.log" 2>&1 \
    || { tail -20 "$CACHE/debguest-dracut.log" >&2; die "dracut --omit-drivers failed"; }
  debg_in "$dc" sh -c "lsinitrd /tmp/initrd-dracut.img | grep -c xen-blkfront; lsinitrd /tmp/initrd-dracut-noblk.img | grep -c xen-blkfront" \
    > "$CACHE/debguest-dracut-check.log" 2>&1 || true
  mv "$dc/tmp/initrd-dracut.img" "$dc/tmp/initrd-dracut-noblk.img" "$d/"
  debg_chroot_down
  safe_rm "$dc"
  log "debguest: dracut ramdisks $((SECONDS - t0)) s"
  rm -f "$t/usr/sbin/policy-rc.d" "$t/etc/resolv.conf"
  debg_in "$t" apt-get clean; debg_chroot_down
  # Direct-kernel boots take the kernel and the ramdisk out of the image, as a dom0 admin would.
  cp "$t/boot/vmlinuz-$kver" "$t/boot/initrd.img-$kver" "$d/"
  echo "$kver" > "$d/kernel-version"
  printf 'ROOT_UUID=%s\nDATA_UUID=%s\nOTHER_UUID=%s\nOLD_KVER=%s\n' "$DEBG_ROOT_UUID" "$DEBG_DATA_UUID" "$DEBG_OTHER_UUID" "$DEBG_OLD_KVER" > "$d/uuids"
  du -sm "$t" | cut -f1 > "$d/tree-mib"

  # The root disk, and the two faults that need a copy of it.
  local p=$tmp/root-fs.img
  mke2fs -q -F -t ext4 -L debroot -U "$DEBG_ROOT_UUID" -d "$t" "$p" "$((DEBG_ROOT_MIB - 1))M" > /dev/null
  debg_put_root "$p" "$d/deb-root.img"
  # pvgrub in a PV guest unpacks only gzip, xz and lzo payloads: /boot's kernel recompressed with zstd.
  local pz=$tmp/root-fs-zstd.img
  cp --sparse=always "$p" "$pz"
  debg_zstd_kernel "$t/boot/vmlinuz-$kver" "$tmp/vmlinuz-zstd" || die "could not recompress the guest kernel with zstd"
  debugfs -w -R "rm /boot/vmlinuz-$kver" "$pz" > /dev/null 2>&1
  debugfs -w -R "write $tmp/vmlinuz-zstd /boot/vmlinuz-$kver" "$pz" > /dev/null 2>&1
  debugfs -R "cat /boot/vmlinuz-$kver" "$pz" 2> /dev/null | cmp -s - "$tmp/vmlinuz-zstd" || die "could not write the zstd kernel"
  debg_put_root "$pz" "$d/deb-root-pvgrub-zstd.img"
  rm -f "$pz" "$tmp/vmlinuz-zstd"
  debg_grub_cfg "$DEBG_OLD_KVER" > "$tmp/grub-stale.cfg"             # grub.cfg names a kernel /boot does not have
  debugfs -w -R "rm /boot/grub/grub.cfg" "$p" > /dev/null 2>&1
  debugfs -w -R "write $tmp/grub-stale.cfg /boot/grub/grub.cfg" "$p" > /dev/null 2>&1
  debugfs -R "cat /boot/grub/grub.cfg" "$p" 2> /dev/null | grep -q "vmlinuz-$DEBG_OLD_KVER" || die "could not write the stale grub.cfg"
  debg_put_root "$p" "$d/deb-root-pygrub-missing-kernel.img"
  rm -f "$p"
  cp --sparse=always "$d/deb-root.img" "$d/deb-root-didf-superblock.img"     # partition 1's first 4 KiB: its superblock
  dd if=/dev/zero of="$d/deb-root-didf-superblock.img" bs=4k count=1 seek=256 conv=notrunc status=none
  # The data disks: whole-disk ext4, 64 MiB.
  mkdir -p "$tmp/data"; echo "vmbootfail testbed data disk" > "$tmp/data/README"
  mke2fs -q -F -t ext4 -L debdata -U "$DEBG_DATA_UUID" -d "$tmp/data" "$d/deb-data.img" 64M > /dev/null
  mke2fs -q -F -t ext4 -L debdata -U "$DEBG_OTHER_UUID" -d "$tmp/data" "$d/deb-data-other-uuid.img" 64M > /dev/null
  cp --sparse=always "$d/deb-data.img" "$d/deb-data-damaged.img"              # its superblock zeroed (the paper's dd)
  dd if=/dev/zero of="$d/deb-data-damaged.img" bs=4k count=1 conv=notrunc status=none
  safe_rm "$tmp"
  trap 'chroot_down' EXIT

  # The disk QEMU attaches, with room for the guests' writes into the sparse images.
  local used; used=$(du -sm "$d" | cut -f1)
  rm -f "$DEBG.img.new"
  mke2fs -q -F -t ext4 -L vmbfdeb -d "$d" "$DEBG.img.new" "$((used + 768))M" > /dev/null || die "mke2fs -d of debguest.img failed"
  safe_rm "$DEBG"; mv "$d" "$DEBG"
  mv "$DEBG.img.new" "$DEBG.img"
  log "debguest: tree $(cat "$DEBG/tree-mib") MiB, images $used MiB real, initrd $(du -h "$DEBG/initrd.img-$kver" | cut -f1)," \
    "dracut $(du -h "$DEBG/initrd-dracut.img" | cut -f1) / without blkfront $(du -h "$DEBG/initrd-dracut-noblk.img" | cut -f1)," \
    "xen-blkfront files in them: $(tr '\n' ' ' < "$CACHE/debguest-dracut-check.log")"
}

# ---------------------------------------------------------------- stage: dom0img
build_dom0img() {
  chroot_down
  local r=$ROOTFS
  cp -a "$HERE/dom0/rootfs/." "$r/"
  chmod 755 "$r/usr/local/sbin/"* 2>/dev/null || true
  mkdir -p "$r/var/log/xen/console" "$r/work"
  echo dom0 > "$r/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 dom0\n' > "$r/etc/hosts"
  rm -f "$r/etc/resolv.conf"
  # The getty on hvc0 cuts off the plan's console output (testbed.md).
  local u
  for u in serial-getty@hvc0.service getty@tty1.service getty@hvc0.service console-getty.service; do
    ln -sf /dev/null "$r/etc/systemd/system/$u"
  done
  mkdir -p "$r/etc/systemd/system/multi-user.target.wants"
  ln -sf /etc/systemd/system/vmbf-testbed.service "$r/etc/systemd/system/multi-user.target.wants/vmbf-testbed.service"
  rm -f "$CACHE/dom0.img.new"
  mke2fs -q -F -t ext4 -L dom0root -d "$r" "$CACHE/dom0.img.new" "$DOM0_IMG_SIZE" > /dev/null \
    || die "mke2fs -d of the dom0 image failed"
  mv "$CACHE/dom0.img.new" "$CACHE/dom0.img"
}

# ---------------------------------------------------------------- run the stages
# (one function, parsed whole before it runs: editing this file during a build is safe)
main() {
  fnkey() { declare -f "$@" | hash_text; }
  t_all=$SECONDS

  k_xen=$(printf '%s\n' "$(fnkey build_xen)" "$XEN_PKG" "$(xen_version)" | hash_text)
  stage xen "$k_xen" build_xen

  k_rootfs=$(printf '%s\n' "$(fnkey build_rootfs chroot_up in_chroot)" "$SUITE" "$MIRROR" "$ROOTFS_INCLUDE" "${ROOTFS_PKGS[*]}" | hash_text)
  stage rootfs "$k_rootfs" build_rootfs

  k_node=$(printf '%s\n' "$k_rootfs" "$(fnkey build_node)" "$(sha256sum < "$NODE_BIN")" \
    "$(cat "$NODE_PREFIX/lib/node_modules/npm/package.json" | sha256sum)" | hash_text)
  stage node "$k_node" build_node

  k_project=$(printf '%s\n' "$k_node" "$(fnkey build_project project_files)" "$SOURCE_MODE" "$REQUIRE_PROJECT" "$(project_key)" | hash_text)
  stage project "$k_project" build_project

  k_guest=$(printf '%s\n' "$k_rootfs" "$(fnkey build_guest make_initrd xfs_protofile xfs_proto_dir)" "$(busybox_version)" "$(pvgrub_version)" \
    "$OLD_KPKG" "$OLD_KPKG_SHA256" \
    "$(hash_files $(find "$HERE/guest/rootfs" -type f | sort))" | hash_text)
  stage guest "$k_guest" build_guest

  k_debguest=$(printf '%s\n' "$k_rootfs" "$(fnkey build_debguest debg_chroot_up debg_in debg_grub_cfg debg_put_root debg_zstd_kernel)" \
    "$DEBG_INCLUDE" "$DEBG_ROOT_MIB" "$DEBG_ROOT_UUID" "$DEBG_DATA_UUID" "$DEBG_OTHER_UUID" "$DEBG_OLD_KVER" | hash_text)
  stage debguest "$k_debguest" build_debguest

  k_dom0img=$(printf '%s\n' "$k_project" "$(fnkey build_dom0img)" "$DOM0_IMG_SIZE" \
    "$(hash_files $(find "$HERE/dom0/rootfs" -type f | sort))" | hash_text)
  stage dom0img "$k_dom0img" build_dom0img

  log "all stages ready in $((SECONDS - t_all)) s; cache $CACHE ($(du -shx "$CACHE" 2>/dev/null | cut -f1))"
}
main "$@"; exit
