import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinearRegex } from '../src/analysis/console/linear-regex.js';
import { ConsoleMatcher, sanitiseConsole } from '../src/analysis/console/matcher.js';
import { requiredLiterals } from '../src/analysis/console/required-literals.js';
import { type ConsoleRule, guestConsoleRules, loadRules, parseRules } from '../src/analysis/console/rules.js';
import { diagnoseConsole } from '../src/analysis/diagnose.js';
import { classifyDeviceName, normaliseDeviceName } from '../src/analysis/root-device-missing.js';
import { analyseConsole } from '../src/analysis/syslog-analysis.js';

const CONSOLES = path.join(import.meta.dirname, 'fixtures', 'consoles');
let rules: ConsoleRule[];
beforeAll(async () => {
  rules = (await loadRules()).rules;
});

function first(line: string): string | undefined {
  const m = new ConsoleMatcher(rules).feed(`${line}\n`, 0);
  return m[0]?.ruleId;
}

/** For every default rule: a line it must match (from signatures.md / testbed.md) and a near miss. */
const SAMPLES: Record<string, { hit: string; miss: string }> = {
  'booting-from-hard-disk': { hit: 'Booting from Hard Disk...', miss: 'Booting from floppy' },
  'gpt-alternate-header-not-at-end': {
    hit: '[    2.1] GPT: Primary header thinks Alt. header is not at the end of the disk.',
    miss: 'GPT: Primary header thinks Alt header is fine',
  },
  'unknown-partition-table': { hit: '[    2.1]  xvda: unknown partition table', miss: ' xvda: xvda1' },
  'failed-to-start-unit': {
    hit: '[FAILED] Failed to start Load Kernel Modules.',
    miss: 'Started Load Kernel Modules.',
  },
  'login-prompt': { hit: 'domu login: ', miss: 'Last login: Mon Nov 23 on hvc0' },
  'root-mounted': {
    hit: '[    5.1] VFS: Mounted root (ext4 filesystem) on device 202:1.',
    miss: 'VFS: Cannot mount root',
  },
  'blkid-output-line': {
    hit: '/dev/sda1: UUID="3f0c" BLOCK_SIZE="4096" TYPE="ext4" PARTUUID="9e4a-01"',
    miss: "mount: /dev/sda1: can't read superblock",
  },
  'partition-line': {
    hit: '[    2.110000]  xvda: xvda1',
    miss: '[    2.1] blkfront: xvda: barrier or flush: disabled;',
  },
  'waiting-for-root': {
    hit: 'Begin: Waiting for root file system ... ',
    miss: 'Begin: Loading essential drivers ... done.',
  },
  'xenbus-device-with-no-driver': {
    hit: '[    1.5] xenbus_probe_frontend: Device with no driver: device/vbd/51712',
    miss: 'xenbus_probe_frontend: Device with no driver: device/console/0',
  },
  'panic-unable-to-mount-root': {
    hit: '[    7.3] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)',
    miss: 'VFS: Unable to mount root fs via NFS, trying floppy.',
  },
  'panic-init': {
    hit: 'Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100',
    miss: 'init: Attempted to reload configuration',
  },
  panic: { hit: 'Kernel panic - not syncing: Fatal exception', miss: 'kernel: panic_on_oops=0' },
  'no-working-init': {
    hit: 'No working init found.  Try passing init= option to kernel.',
    miss: 'Run /sbin/init as init process',
  },
  'no-filesystem-could-mount-empty': {
    hit: '[    7.2] No filesystem could mount root, tried: ',
    miss: 'filesystem could mount root',
  },
  'no-filesystem-could-mount': {
    hit: 'No filesystem could mount root, tried:  ext3 ext2 ext4 vfat',
    miss: 'No filesystem could mount /boot',
  },
  'vfs-cannot-open-root': {
    hit: '[    7.2] VFS: Cannot open root device "xvda1" or unknown-block(0,0): error -6',
    miss: 'VFS: Opened root device xvda1',
  },
  'append-correct-root': {
    hit: 'Please append a correct "root=" boot option; here are the available partitions:',
    miss: 'root= boot option accepted',
  },
  'xenbus-timeout': { hit: 'XENBUS: Timeout connecting to devices!', miss: 'XENBUS: Device connected' },
  'initramfs-unpacking-failed': {
    hit: '[    0.9] Initramfs unpacking failed: invalid magic at start of compressed archive',
    miss: 'Unpacking initramfs...',
  },
  'gave-up-waiting-for-root': {
    hit: 'Gave up waiting for root file system device.  Common problems:',
    miss: 'Waiting for root file system device',
  },
  'alert-root-does-not-exist': {
    hit: 'ALERT!  /dev/xvda1 does not exist.  Dropping to a shell!',
    miss: 'ALERT! battery low',
  },
  'failed-to-mount-root': {
    hit: 'Failed to mount /dev/xvda1 as root file system.',
    miss: 'Mounted /dev/xvda1 as root file system.',
  },
  'initramfs-shell-prompt': { hit: '(initramfs) ', miss: 'Loading (initramfs) modules' },
  // From the testbed's didf-truncated-image recording.
  'partition-beyond-end-of-disk': {
    hit: '[   11.157641] xvda: p1 size 129024 extends beyond EOD, truncated',
    miss: '[   11.156903]  xvda: xvda1',
  },
  'mount-root-invalid-argument': {
    hit: 'mount: mounting /dev/xvda1 on /root failed: Invalid argument',
    miss: 'mount: mounting /dev/xvda1 on /root succeeded',
  },
  'root-fs-type-unknown': {
    hit: 'Warning: Type of root file system is unknown, so skipping check.',
    miss: 'Type of root file system is ext4',
  },
  'modules-dep-missing': {
    hit: 'FATAL: Could not load /lib/modules/6.1.0-56-amd64/modules.dep: No such file or directory',
    miss: 'Loaded /lib/modules/6.1.0-56-amd64/modules.dep',
  },
  'dracut-initqueue-timeout': {
    hit: 'dracut-initqueue[312]: Warning: dracut-initqueue: timeout, still waiting for following initqueue hooks:',
    miss: 'dracut-initqueue[312]: Scanning devices',
  },
  'dracut-shell-prompt': { hit: 'dracut:/# ', miss: 'dracut: FATAL: no root' },
  'failed-to-mount-sysroot': { hit: '[FAILED] Failed to mount /sysroot.', miss: 'Mounted /sysroot.' },
  'emergency-mode': {
    hit: 'You are in emergency mode. After logging in, type "journalctl -xb"',
    miss: 'Reached target Emergency Mode exit',
  },
  'give-root-password': { hit: 'Give root password for maintenance', miss: 'root password changed' },
  'timed-out-waiting-for-device': {
    hit: '[ TIME ] Timed out waiting for device /dev/xvdb1.',
    miss: 'Found device /dev/xvdb1.',
  },
  'job-running-for-device': {
    hit: '[ ***  ] Job dev-disk-by\\x2duuid-6b0e8a52\\x2d3c1d.device/start running (1min 27s / 1min 30s)',
    miss: '[ ***  ] Job systemd-networkd-wait-online.service/start running (12s / 2min)',
  },
  'start-job-running-for-device': {
    hit: '[ *** ] (1 of 3) A start job is running for dev-system-swap.device (1min 12s / 1min 30s)',
    miss: '[ *** ] A start job is running for Wait for Network to be Configured (12s / 2min)',
  },
  'dependency-failed-local-fs': {
    hit: '[DEPEND] Dependency failed for Local File Systems.',
    miss: 'Reached target Local File Systems.',
  },
  'grub-locale-missing': {
    hit: "error: file `/boot/grub/locale/en.mo.gz' not found.",
    miss: "error: file '/boot/grub/i386-pc/normal.mod' not found.",
  },
  'pvgrub-chainload-probe': {
    hit: 'error: no such device: /boot/xen/pvboot-x86_64.elf.',
    miss: 'error: no such device: /boot/grub/grub.cfg.',
  },
  'grub-rescue-mode': { hit: 'Entering rescue mode...', miss: 'Reached target Rescue Mode.' },
  'grub-rescue-prompt': { hit: 'grub rescue> ', miss: 'grub> ' },
  'grub-no-kernel-loaded': {
    hit: 'error: you need to load the kernel first.',
    miss: 'Loading Linux 6.1.0-13-amd64 ...',
  },
  'grub-kernel-file-not-found': {
    hit: "error: file '/boot/vmlinuz-5.10.0-9-amd64' not found.",
    miss: "error: file '/boot/grub/x86_64-efi/normal.mod' not found.",
  },
  'grub-not-a-kernel': {
    hit: 'error: not a xen image.',
    miss: 'error: no such partition.',
  },
  'nixos-stage1-device-timeout': {
    hit: 'Timed out waiting for device /dev/disk/by-uuid/b344100e-600e-4b82-8743-8c2ae46e52ea, trying to mount anyway.',
    miss: 'waiting for device /dev/disk/by-uuid/b344100e to appear......',
  },
  'nixos-stage1-failed': {
    hit: 'An error occurred in stage 1 of the boot process, which must mount the',
    miss: 'starting stage 2 (/init)...',
  },
  'virtiofs-tag-not-found': {
    hit: '[    0.740641] virtio-fs: tag <root> not found',
    miss: 'virtio-fs: tag <root> found',
  },
  'ext4-read-io-error': {
    hit: '[42143.7] EXT4-fs error (device nvme0n1p1): __ext4_get_inode_loc_noinmem:4433: inode #33445: block 2379: comm cron: unable to read itable block',
    miss: 'EXT4-fs error (device xvda1): ext4_lookup:1855: inode #2: comm init: deleted inode referenced: 12',
  },
  'grub-module-not-found': {
    hit: "error: file '/boot/grub/i386-pc/normal.mod' not found.",
    miss: "error: file '/boot/grub/grubenv' not found.",
  },
  'grub-no-such-device': {
    hit: 'error: no such device: 5b2b0455-ca39-40c8-9547-30cfa9adc02a.',
    miss: 'modprobe: ERROR: could not insert: No such device',
  },
  'grub-no-such-partition': { hit: 'error: no such partition.', miss: 'sda: sda1 sda2' },
  'grub-unknown-filesystem': { hit: 'error: unknown filesystem.', miss: 'mount: unknown filesystem type' },
  'grub-outside-of-disk': {
    hit: "error: attempt to read or write outside of disk `hd0'.",
    miss: 'attempt to read the superblock',
  },
  'grub-disk-not-found': {
    hit: "error: disk `hd0,msdos1' not found.",
    miss: "error: file `/boot/grub/grub.cfg' not found.",
  },
  'grub-module-mismatch': {
    hit: "error: symbol 'grub_file_filters' not found.",
    miss: "error: file '/boot/grub/fonts/unicode.pf2' not found.",
  },
  'dependency-failed-fsck': {
    hit: '[DEPEND] Dependency failed for File System Check on /dev/disk/by-label/boot.',
    miss: '[  OK  ] Finished File System Check on /dev/disk/by-label/boot.',
  },
  'libxl-error': {
    hit: 'libxl: error: libxl_create.c:1685:domcreate_launch_dm: Domain 5:unable to add disk devices',
    miss: 'libxl: warning: libxl_dm.c:1200:libxl__build_device_model_args: Domain 5:ignoring vga',
  },
  'libxl-log-error': {
    hit: '2021-01-30 21:24:25.125+0000: libxl: libxl_device.c:1099:device_backend_callback: unable to add device with path /local/domain/0/backend/vbd/5/51712',
    miss: '2021-01-30 21:24:25.125+0000: libxl: libxl_dm.c:1200:libxl__build_device_model_args: Domain 5:ignoring vga',
  },
  'xl-failed-to-free-memory': {
    hit: 'failed to free memory for the domain',
    miss: 'Parsing config from /etc/xen/domu.cfg',
  },
  'ext4-cannot-find-filesystem': {
    hit: "EXT4-fs (xvda1): VFS: Can't find ext4 filesystem",
    miss: 'EXT4-fs (xvda1): recovery complete',
  },
  'ext4-bad-geometry': {
    // The testbed's didf-truncated-image recording.
    hit: '[   13.652166] EXT4-fs (xvda1): bad geometry: block count 64512 exceeds size of device (31744 blocks)',
    miss: 'EXT4-fs (xvda1): good geometry',
  },
  'xfs-metadata-crc': {
    hit: 'XFS (xvda1): Metadata CRC error detected at xfs_agf_read_verify',
    miss: 'XFS (xvda1): Ending clean mount',
  },
  'bad-magic-superblock': {
    hit: 'Bad magic number in super-block while trying to open /dev/xvda1',
    miss: 'Magic number fine',
  },
  'wrong-fs-type': {
    hit: 'mount: /root: wrong fs type, bad option, bad superblock on /dev/xvda1, missing codepage',
    miss: 'mount: /root: mounted',
  },
  'buffer-io-error': {
    hit: 'Buffer I/O error on dev xvda1, logical block 0, async page read',
    miss: 'I/O scheduler mq-deadline registered',
  },
  // Samples for the rules that cover the corpus in test/fixtures/consoles (MESSAGES.md gives each source).
  'failed-to-start-fsck': {
    hit: '[FAILED] Failed to start File System Check on Root Device.',
    miss: '[FAILED] Failed to start Network Time Synchronization.',
  },
  'ext4-probe-as-ext2-ext3': {
    hit: "[    1.0] EXT4-fs (vda): couldn't mount as ext3 due to feature incompatibilities",
    miss: "EXT4-fs (vda): couldn't mount RDWR because of unsupported optional features (400)",
  },
  'ext4-recovery-and-resize': {
    hit: '[    8.5] EXT4-fs (vda1): resizing filesystem from 20943099 to 86479099 blocks',
    miss: 'EXT4-fs (vda1): no journal found',
  },
  growroot: {
    hit: 'GROWROOT: CHANGED: partition=1 start=16065 old: size=64260 end=80325 new: size=2072385,end=2088450',
    miss: 'growroot disabled',
  },
  'fsck-clean': {
    hit: '/dev/vda1: clean, 25833/122880 files, 190959/491264 blocks',
    miss: '/dev/vda1 contains a file system with errors, check forced.',
  },
  'lvmetad-fallback': {
    hit: 'WARNING: Failed to connect to lvmetad. Falling back to device scanning.',
    miss: 'Volume group "ubuntu-vg" not found',
  },
  'modprobe-module-built-in': {
    hit: 'modprobe: module virtio_blk not found in modules.dep',
    miss: 'FATAL: Could not load /lib/modules/6.1.0-56-amd64/modules.dep: No such file or directory',
  },
  'kernel-waiting-for-root': {
    hit: '[    1.2] Waiting for root device /dev/xvda1...',
    miss: 'Waiting 10 sec before mounting root device...',
  },
  'blkfront-disk-attached': {
    hit: 'blkfront: xvda: barrier or flush: disabled; persistent grants: disabled; indirect descriptors: enabled;',
    miss: 'blkfront: xvda: unable to connect',
  },
  'luks-unlock-prompt': { hit: 'Please unlock disk sda5_crypt: ', miss: 'Disk unlocked' },
  'panic-unable-to-mount-root-device': {
    hit: 'Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(202,0)',
    miss: 'VFS: Unable to mount root fs via NFS, trying floppy.',
  },
  'vfs-root-device-null': {
    hit: '[    0.1] VFS: Cannot open root device "(null)" or unknown-block(0,0): error -6',
    miss: 'VFS: Cannot open root device "vda" or unknown-block(0,0): error -6',
  },
  'xenbus-timeout-vbd': {
    hit: 'XENBUS: Timeout connecting to device: device/vbd/51712 (local state 3, remote state 1)',
    miss: 'XENBUS: Timeout connecting to device: device/vfb/0 (local state 3, remote state 1)',
  },
  'virtio-blk-zero-capacity': {
    hit: '[    2.6] virtio_blk virtio1: [vda] 0 512-byte logical blocks (0 B/0 B)',
    miss: 'virtio_blk virtio0: [vda] 16777216 512-byte logical blocks (8.58 GB/8.00 GiB)',
  },
  'root-partuuid-invalid': { hit: 'VFS: PARTUUID= is invalid.', miss: 'root=PARTUUID=1234-01' },
  'initramfs-no-init-found': { hit: 'No init found. Try passing init= bootarg.', miss: 'init found' },
  'target-fs-no-init': {
    hit: "Target filesystem doesn't have requested /sbin/init.",
    miss: 'Target filesystem mounted',
  },
  'initramfs-manual-fsck': {
    hit: 'The root filesystem on /dev/sda1 requires a manual fsck',
    miss: 'The root filesystem on /dev/sda1 is clean',
  },
  'mount-root-no-such-device': {
    hit: 'mount: mounting /dev/vda1 on /root failed: No such device',
    miss: 'mount: mounting /dev/vda1 on /root failed: Invalid argument',
  },
  'mount-root-no-such-file': {
    hit: 'mount: mounting /dev/vda1 on /sysroot failed: No such file or directory',
    miss: 'mount: mounting /dev on /root/dev failed: No such file or directory',
  },
  'mount-cant-find-tag': { hit: "mount: /new_root: can't find UUID=1234", miss: "can't find /etc/fstab" },
  'e2fsck-unexpected-inconsistency': {
    hit: '/dev/xvdb: UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY.',
    miss: '/dev/xvdb: recovering journal',
  },
  'e2fsck-damage': {
    hit: '/dev/xvdb contains a file system with errors, check forced.',
    miss: '/dev/xvdb was not cleanly unmounted, check forced.',
  },
  'mkinitcpio-device-not-found': {
    hit: "ERROR: device 'UUID=1234' not found. Skipping fsck.",
    miss: ':: mounting UUID=1234 on real root',
  },
  'mkinitcpio-failed-to-mount-real-root': {
    hit: "ERROR: Failed to mount '/dev/sda2' on real root",
    miss: ":: mounting '/dev/sda2' on real root",
  },
  'mkinitcpio-emergency-shell': {
    hit: 'You are now being dropped into an emergency shell.',
    miss: 'You are now logged in',
  },
  'alpine-mount-root-failed': { hit: ' * Mounting root: failed.', miss: ' * Mounting root: ok.' },
  'alpine-recovery-shell': {
    hit: 'Launching initramfs emergency recovery shell',
    miss: 'Launching init',
  },
  'alpine-init-not-found': { hit: '/sbin/init not found in new root', miss: '/sbin/init found' },
  'dracut-device-does-not-exist': {
    hit: 'dracut-initqueue[372]: Warning: /dev/centos/root does not exist',
    miss: 'Warning: Type of root file system is unknown',
  },
  'dracut-could-not-boot': {
    hit: 'dracut-initqueue[372]: Warning: Could not boot.',
    miss: 'dracut-initqueue[372]: booting',
  },
  'dracut-cant-mount-root': { hit: "Warning: Can't mount root filesystem", miss: 'Mounted root filesystem' },
  'dracut-emergency-shell': {
    hit: 'Generating "/run/initramfs/rdsosreport.txt"',
    miss: 'Stopped Dracut Emergency Shell.',
  },
  'dracut-no-root-device-found': { hit: 'No root device found', miss: 'No root device found yet, waiting' },
  'boot-has-failed-sleeping': { hit: 'Boot has failed, sleeping forever.', miss: 'Boot has finished' },
  'tinylinux-root-partition-not-found': {
    hit: 'Partition with root filesystem not found. Waiting...',
    miss: 'Partition with root filesystem found',
  },
  'tinylinux-giving-up': { hit: 'Giving up...', miss: 'Giving up on the network, booting anyway...' },
  'sulogin-root-locked': {
    hit: 'Cannot open access to console, the root account is locked.',
    miss: 'Cannot open access to console',
  },
  'dependency-failed-sysroot': {
    hit: '[DEPEND] Dependency failed for Initrd Root File System.',
    miss: 'Reached target Initrd Root File System.',
  },
  'ext4-orphan-list-unprocessed': {
    hit: "EXT4-fs (dm-1): Couldn't remount RDWR because of unprocessed orphan inode list.  Please umount/remount instead",
    miss: 'EXT4-fs (dm-1): re-mounted. Opts: errors=remount-ro',
  },
  'ext4-fs-error': {
    hit: 'EXT4-fs error (device vda): ext4_validate_block_bitmap:423: comm ext4lazyinit: bg 9: bad block bitmap checksum',
    miss: 'EXT4-fs (vda): mounted filesystem with ordered data mode.',
  },
  'ext4-mounting-with-errors': {
    hit: 'EXT4-fs (xvda3): warning: mounting fs with errors, running e2fsck is recommended',
    miss: 'EXT4-fs (xvda3): warning: maximal mount count reached',
  },
  'ext4-error-recorded': {
    hit: 'EXT4-fs warning (device sda1): ext4_clear_journal_err:4531: Filesystem error recorded from previous mount: IO failure',
    miss: 'EXT4-fs warning (device sda1): ext4_multi_mount_protect:311: MMP interval 42',
  },
  'ext4-journal-damaged': { hit: 'EXT4-fs (dm-0): no journal found', miss: 'EXT4-fs (dm-0): journal found' },
  'jbd2-recovery-failed': {
    hit: 'JBD2: Invalid checksum recovering block 11 in log',
    miss: 'jbd2_journal_init: started',
  },
  'ext4-descriptors-or-checksum': {
    hit: 'EXT4-fs (xvda1): ext4_check_descriptors: Block bitmap for group 0 not in group (block 0)!',
    miss: 'EXT4-fs (xvda1): descriptors checked',
  },
  'ext4-unsupported-features': {
    hit: "EXT4-fs (xvda1): couldn't mount RDWR because of unsupported optional features (400)",
    miss: "EXT4-fs (xvda1): couldn't mount as ext2 due to feature incompatibilities",
  },
  'ext4-unable-to-read-superblock': {
    hit: '[    0.18] EXT4-fs (vda): unable to read superblock',
    miss: "EXT4-fs (vda): VFS: Can't find ext4 filesystem",
  },
  'xfs-unknown-features': {
    hit: 'XFS (md127): Superblock has unknown incompatible features (0x20) enabled.',
    miss: 'XFS (md127): Mounting V5 Filesystem',
  },
  'xfs-corruption': {
    hit: 'XFS (vda4): Metadata corruption detected at xfs_buf_ioend+0x162/0x570 [xfs], xfs_inode block 0x2f8640',
    miss: 'XFS (vda4): Ending clean mount',
  },
  'mount-structure-needs-cleaning': {
    hit: 'mount: /sysroot: mount(2) system call failed: Structure needs cleaning.',
    miss: 'mount: /sysroot: mounted',
  },
  'btrfs-device-missing': {
    hit: 'BTRFS error (device sda3): devid 2 uuid 5b50e238-ae76-426f-bae3-deee5999adbc is missing',
    miss: 'BTRFS: device fsid f9cf579f devid 1 transid 3971 /dev/sda3 scanned by btrfs (171)',
  },
  'btrfs-log-replay-failed': {
    hit: 'BTRFS: error (device sda4) in btrfs_replay_log:2475: errno=-5 IO failure (Failed to recover log tree)',
    miss: 'BTRFS info (device sda4): disk space caching is enabled',
  },
  'btrfs-corruption': {
    hit: 'BTRFS critical (device sda4): invalid dir item name len: 23',
    miss: 'BTRFS info (device sda4): has skinny extents',
  },
  'btrfs-open-ctree-failed': {
    hit: 'BTRFS error (device dm-0): open_ctree failed',
    miss: 'Btrfs loaded, crc32c=crc32c-generic',
  },
  'lvm-volume-group-not-found': {
    hit: 'Volume group "ubuntu-vg" not found',
    miss: 'Found volume group "ubuntu-vg" using metadata type lvm2',
  },
  'lvm-pv-missing': {
    hit: "WARNING: Couldn't find device with uuid abcd-1234.",
    miss: 'Found device with uuid abcd-1234',
  },
  'lvm-lv-not-found': {
    hit: ' Snapshot origin LV vm-personal-private not found in Volume group qubes_dom0.',
    miss: 'Logical volume "vm-personal-private" created.',
  },
  'qubes-volume-missing': {
    hit: 'Domain anon-whonix has failed to start: volume qubes_extended/vm-whonix-ws-15-root missing',
    miss: 'volume qubes_dom0/vm-work-private not active',
  },
  'md-array-degraded': {
    hit: '[   27.0] md/raid1:md0: active with 1 out of 2 mirrors',
    miss: '[   27.0] md/raid1:md0: active with 2 out of 2 mirrors',
  },
  'md-invalid-superblock': {
    hit: 'md: sdb1 does not have a valid v1.2 superblock, not importing!',
    miss: 'md: bind<sdb1>',
  },
  // Context lines root-device-missing.ts reads (cues), and the rules added with it.
  'scsi-disk-capacity': {
    hit: '[    1.9] sd 0:0:0:0: [sda] 62914560 512-byte logical blocks: (32.2 GB/30.0 GiB)',
    miss: '[    1.9] sd 2:0:0:0: [sdc] 0 512-byte logical blocks: (0 B/0 B)',
  },
  'virtio-blk-capacity': {
    hit: '[    0.8] virtio_blk virtio2: [vda] 16777216 512-byte logical blocks (8.59 GB/8.00 GiB)',
    miss: 'virtio_blk virtio1: [vda] 0 512-byte logical blocks (0 B/0 B)',
  },
  'disk-capacity-change': {
    hit: '[    0.310488] xvda: detected capacity change from 0 to 10737418240',
    miss: 'xvda: detected capacity change from 10737418240 to 0',
  },
  'kernel-partition-list-entry': {
    hit: '[    3.392916] ca00         1656832 xvda',
    miss: '[    3.392945]  driver: vbd',
  },
  'kernel-list-of-partitions': {
    hit: '[    3.389439] List of all partitions:',
    miss: 'List of all partitions: sda1',
  },
  'linux-version-banner': {
    hit: '[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 ...',
    miss: 'Linux version: unknown',
  },
  'kernel-command-line': {
    hit: '[    0.000000] Command line: root=/dev/xvda1 console=hvc0',
    miss: 'command-line tools installed',
  },
  'xen-pv-guest': {
    hit: '[    0.000000] Hypervisor detected: Xen PV',
    miss: '[    0.000000] Hypervisor detected: Xen HVM',
  },
  'modprobe-module-not-found': {
    hit: 'modprobe: FATAL: Module hv_storvsc not found in directory /lib/modules/5.4.0-1',
    miss: 'modprobe: module virtio_blk not found in modules.dep',
  },
  'module-unknown-symbol': {
    hit: '[    2.1] xen_blkfront: Unknown symbol blk_mq_alloc_disk (err -2)',
    miss: 'Unknown symbol table',
  },
  'udevd-segfault': {
    hit: '[    0.614529] systemd-udevd[86]: segfault at 7fe4ffed0b30 ip 00007fe4ffdc7a12 sp 00007ffdbd7ce5e0 error 25',
    miss: 'Starting systemd-udevd version 247.3-7+deb11u2',
  },
  'dracut-initqueue-devexists-hook': {
    hit: 'dracut-initqueue[351]: Warning: /lib/dracut/hooks/initqueue/finished/devexists-\\x2fdev\\x2fmapper\\x2frootvg-rootlv.sh: "if ! grep',
    miss: 'dracut-initqueue[351]: Warning: /lib/dracut/hooks/initqueue/finished/dhcp.sh',
  },
  'dependency-failed-mount': {
    hit: '[DEPEND] Dependency failed for /opt/pgdata.',
    miss: '[DEPEND] Dependency failed for Local File Systems.',
  },
  'md-array-cannot-start': {
    hit: '[    5.2] md/raid:md0: not enough operational devices (2/3 failed)',
    miss: 'md/raid:md0: raid level 5 active with 3 out of 3 devices',
  },
  'block-io-error': {
    hit: '[9943662.053217] end_request: I/O error, dev sde, sector 52428288',
    miss: 'print_req_error: I/O error, dev fd0, sector 0',
  },
  'access-beyond-end-of-device': {
    hit: '[    3.1] attempt to access beyond end of device',
    miss: 'access to the end of the device',
  },
  'luks-source-device-missing': {
    hit: 'cryptsetup: Waiting for encrypted source device UUID=20670a50-0e6a-4d04-8b26-ae56d51a1518...',
    miss: 'cryptsetup: sda5_crypt: set up successfully',
  },
  'dracut-no-root-argument': {
    hit: 'dracut Warning: dracut: FATAL: No or empty root= argument',
    miss: 'dracut: root=UUID=1b2c',
  },
  'dracut-refusing-to-continue': {
    hit: 'dracut Warning: dracut: Refusing to continue',
    miss: 'dracut: continuing',
  },
  'kernel-fs-tried-entry': { hit: '[    3.393173]  ext3', miss: '[    3.393173]  ext3 mounted' },
  'e2fsck-unsupported-feature': {
    hit: 'systemd-fsck[368]: /dev/sda2 has unsupported feature(s): FEATURE_C12',
    miss: '/dev/sda2: clean, 11/65536 files, 12955/262144 blocks',
  },
};

describe('every default rule', () => {
  it('has a sample, and no sample names a rule that does not exist', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual(rules.map((r) => r.id).sort());
  });

  it.each(Object.entries(SAMPLES))('%s matches its sample and not its near miss', (id, { hit, miss }) => {
    const rule = rules.find((r) => r.id === id) as ConsoleRule;
    if (rule.partial) {
      expect(
        new ConsoleMatcher(rules).feed(hit, 0).map((m) => m.ruleId),
        'partial line',
      ).toContain(id);
    }
    if (rule.severity === 'benign') {
      // A benign line produces no match at all, and no later rule sees it.
      expect(new ConsoleMatcher(rules).feed(`${hit}\n`, 0)).toEqual([]);
      expect(rule.pattern.test(hit)).toBe(true);
    } else if (rule.after) {
      // Tried only after a line with its cue: not before it, and then like any rule.
      const lead = rules.find((r) => r.cue === rule.after && !r.after) as ConsoleRule;
      expect(first(hit)).not.toBe(id);
      const m = new ConsoleMatcher(rules).feed(`${SAMPLES[lead.id]?.hit}\n${hit}\n`, 0);
      expect(m.map((x) => x.ruleId)).toEqual([lead.id, id]);
    } else {
      expect(first(hit)).toBe(id);
    }
    expect(rule.pattern.test(miss), `near miss: ${miss}`).toBe(false);
  });
});

describe('matcher', () => {
  it("a rule with after is tried only in the lines that follow its cue's line (the kernel's partition list)", () => {
    const header = 'Please append a correct "root=" boot option; here are the available partitions:';
    const ids = (log: string[]) =>
      new ConsoleMatcher(rules).feed(`${log.join('\n')}\n`, 0).map((m) => m.ruleId);
    const entry = 'ca00         1656832 xvda';
    const driver = ' driver: vbd';
    expect(ids([header, entry, driver, '0800  8388608 sda', driver])).toEqual([
      'append-correct-root',
      'kernel-partition-list-entry',
      'kernel-partition-list-entry',
    ]);
    // Long after the list, the same shape of line is not a disk.
    const later = Array.from({ length: 20 }, (_, i) => `unrelated line ${i}`);
    expect(ids([header, ...later, entry])).toEqual(['append-correct-root']);
    expect(ids([entry])).toEqual([]);
  });
  it('benign lines are never failures: "Failed to start" stays quiet while "Failed to mount /sysroot" counts', () => {
    const m = new ConsoleMatcher(rules);
    expect(m.feed('[FAILED] Failed to start Network Time Synchronization.\n', 1)).toEqual([]);
  });

  it('distinguishes an empty "tried:" list (no fs drivers: UVKE) from a non-empty one (DIDF)', () => {
    expect(new ConsoleMatcher(rules).feed('No filesystem could mount root, tried: \n', 0)[0]).toMatchObject({
      fault: 'UVKE',
    });
    expect(
      new ConsoleMatcher(rules).feed('No filesystem could mount root, tried:  ext4\n', 0)[0],
    ).toMatchObject({ fault: 'DIDF' });
  });

  it('matches prompts without a newline once, across chunk boundaries', () => {
    const m = new ConsoleMatcher(rules);
    expect(m.feed('\nBusyBox v1.35.0 built-in shell (ash)\n(initr', 1)).toEqual([]);
    expect(m.feed('amfs) ', 2).map((x) => x.ruleId)).toEqual(['initramfs-shell-prompt']);
    expect(m.feed('\n', 3)).toEqual([]); // completing the line does not count it twice
  });

  it('captures named groups', () => {
    const [match] = new ConsoleMatcher(rules).feed(
      'ALERT!  /dev/xvda1 does not exist.  Dropping to a shell!\n',
      64_100,
    );
    expect(match).toMatchObject({
      ruleId: 'alert-root-does-not-exist',
      captures: { device: '/dev/xvda1' },
      at: 64_100,
    });
  });

  it('treats console output as hostile: escapes and control bytes removed, lines capped, tail bounded', () => {
    const m = new ConsoleMatcher(rules, { maxLineLength: 4096, tailBytes: 8192 });
    const evil = '\u001b[31m\u001b]0;pwned\u0007Kernel panic - not syncing: \u0000boom\u001b[0m\r\n';
    const [match] = m.feed(evil, 5);
    expect(match).toMatchObject({ ruleId: 'panic', line: 'Kernel panic - not syncing: boom' });
    const huge = `${'A'.repeat(1_000_000)} login: `;
    expect(m.feed(huge, 6)).toEqual([]); // cut at 4096 characters, so the prompt at the end is not reached
    m.feed('\n', 7);
    expect(m.tail().length).toBeLessThanOrEqual(8192);
    expect(sanitiseConsole('a\u0007b\u009bc\u001b[2Jd')).toBe('abd');
  });

  it('decodes UTF-8 split across chunks and survives invalid bytes', () => {
    const m = new ConsoleMatcher(rules);
    const bytes = Buffer.from('Gave up waiting for root device — ünicode\n', 'utf8');
    expect(m.feed(bytes.subarray(0, 38), 0)).toEqual([]);
    expect(m.feed(bytes.subarray(38), 1).map((x) => x.ruleId)).toEqual(['gave-up-waiting-for-root']);
    expect(m.feed(Buffer.from([0xff, 0xfe, 0x0a]), 2)).toEqual([]);
  });
});

describe('user rules', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vmbf-rules-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('add, replace by id and disable', async () => {
    const user = path.join(dir, 'ok');
    await rm(user, { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(user));
    await writeFile(
      path.join(user, '10-site.yaml'),
      [
        'version: 1',
        'disable: [failed-to-start-unit]',
        'rules:',
        '  - id: site-raid-missing',
        '    severity: fatal',
        '    category: BACKING_STORE',
        '    fault: UVDE',
        "    match: 'md0: not enough operational mirrors'",
        '  - id: panic',
        '    severity: evidence',
        '    category: OTHER',
        "    match: 'Kernel panic - not syncing: (?<why>.*)'",
      ].join('\n'),
    );
    const set = await loadRules({ userDir: user });
    expect(set.files).toHaveLength(2);
    const m = new ConsoleMatcher(set.rules);
    expect(m.feed('md0: not enough operational mirrors\n', 0)[0]).toMatchObject({
      ruleId: 'site-raid-missing',
      fault: 'UVDE',
    });
    expect(m.feed('Kernel panic - not syncing: Fatal exception\n', 0)[0]).toMatchObject({
      ruleId: 'panic',
      severity: 'evidence',
    });
    expect(m.feed('[FAILED] Failed to mount /sysroot.\n', 0)[0]?.ruleId).toBe('failed-to-mount-sysroot');
    expect(set.rules.some((r) => r.id === 'failed-to-start-unit')).toBe(false);
  });

  it("a match carries the rule's withRamdisk severity and cue; a prompt-like partial line matches at once", () => {
    const m = new ConsoleMatcher(rules);
    const [noDriver] = m.feed(
      '[    2.9] xenbus_probe_frontend: Device with no driver: device/vbd/51712\r\n',
      1,
    );
    expect(noDriver).toMatchObject({ severity: 'fatal', withRamdisk: 'progress' });
    const [wait] = m.feed('Begin: Waiting for root file system ... ', 2);
    expect(wait).toMatchObject({ ruleId: 'waiting-for-root', cue: 'root-wait', at: 2 });
    expect(m.feed('Begin: Running /scripts/local-block ... done.\r\n', 3)).toEqual([]);
  });

  it.each([
    ['version: 2\nrules: []\n', 'bad.yaml:1:10: version must be 1'],
    [
      'version: 1\nrules:\n  - id: x\n    severity: loud\n    category: OTHER\n    match: a\n',
      'bad.yaml:4:15: severity must be one of',
    ],
    [
      'version: 1\nrules:\n  - id: x\n    severity: fatal\n    category: OTHER\n    match: "(a)\\\\1"\n',
      'bad.yaml:6:12: match is not a valid regular expression for RE2',
    ],
    [
      'version: 1\nrules:\n  - id: x\n    severity: fatal\n    category: OTHER\n    match: "(unclosed"\n',
      'bad.yaml:6:12: match is not a valid regular expression',
    ],
    [
      'version: 1\nrules:\n  - id: x\n    severity: fatal\n    category: OTHER\n    match: a\n    colour: red\n',
      'bad.yaml:7:5: unknown key "colour"',
    ],
    [
      'version: 1\nrules:\n  - id: x\n    severity: fatal\n    withRamdisk: maybe\n    category: OTHER\n    match: a\n',
      'bad.yaml:5:18: withRamdisk must be one of',
    ],
    [
      'version: 1\nrules:\n  - id: x\n    severity: evidence\n    cue: panic\n    category: OTHER\n    match: a\n',
      'bad.yaml:5:10: cue must be one of root-wait',
    ],
    ['version: 1\nrules: [\n', 'bad.yaml:'],
    ['version: 1\nrules:\n  - id: Bad Id\n', 'bad.yaml:3:9: id must be'],
  ])('rejects %j with file:line:col', (text, message) => {
    expect(() => parseRules(text, 'bad.yaml')).toThrow(message);
    expect(() => parseRules(text, 'bad.yaml')).toThrow(expect.objectContaining({ code: 'ERR_RULES' }));
  });

  it('a missing rules directory or an unknown disabled id is a clear error', async () => {
    await expect(loadRules({ userDir: path.join(dir, 'nope') })).rejects.toMatchObject({ code: 'ERR_RULES' });
    const bad = path.join(dir, 'bad');
    await import('node:fs/promises').then((fs) => fs.mkdir(bad));
    await writeFile(path.join(bad, 'x.yml'), 'version: 1\ndisable: [no-such-rule]\n');
    await expect(loadRules({ userDir: bad })).rejects.toThrow('disable names unknown rule ids: no-such-rule');
  });
});

/**
 * "The root device was not found" weighed with the rest of the log (src/analysis/root-device-missing.ts).
 * Synthetic logs built from the lines each branch reads; the reasons are in that file.
 */
describe('a missing root device, weighed with the whole log', () => {
  const top = (log: string) => {
    const causes = diagnoseConsole(log, rules).causes.filter((c) => c.code !== 'UNKNOWN_KERNEL');
    return causes.map((c) => [c.paperFault, c.confidence] as const);
  };
  const initramfsToolsGiveUp = (dev: string) =>
    [
      'Gave up waiting for root file system device.  Common problems:',
      ' - Boot args (cat /proc/cmdline)',
      ' - Missing modules (cat /proc/modules; ls /dev)',
      `ALERT!  ${dev} does not exist.  Dropping to a shell!`,
      '(initramfs) ',
    ].join('\n');
  const kvmStart = [
    '[    0.000000] Linux version 6.1.0-13-amd64 (debian-kernel@lists.debian.org) (gcc-12)',
    '[    0.000000] Command line: BOOT_IMAGE=/vmlinuz root=UUID=1b2c quiet',
  ].join('\n');
  const xenPvStart = [
    '[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12)',
    '[    0.000000] Command line: root=/dev/xvda1 console=hvc0',
    '[    0.000000] Hypervisor detected: Xen PV',
  ].join('\n');

  it('a trimmed log with a kernel name: both families, VMCE first and UVKE close', () => {
    const [first, second] = top(initramfsToolsGiveUp('/dev/sda2'));
    expect(first?.[0]).toBe('VMCE');
    expect(second?.[0]).toBe('UVKE');
    expect((first?.[1] ?? 0) - (second?.[1] ?? 0)).toBeLessThanOrEqual(0.1);
    expect(first?.[1]).toBeLessThan(0.6);
  });

  it('a trimmed log with a persistent name: both families, UVKE first and VMCE close', () => {
    const [first, second] = top(initramfsToolsGiveUp('UUID=3caf26b5-4d08-43e0-8634-7573269c4f70'));
    expect(first?.[0]).toBe('UVKE');
    expect(second?.[0]).toBe('VMCE');
    expect((first?.[1] ?? 0) - (second?.[1] ?? 0)).toBeLessThanOrEqual(0.1);
  });

  it('the disks came up under another name: VMCE', () => {
    const log = `${kvmStart}\n[    1.2] sd 0:0:0:0: [sda] 16777216 512-byte logical blocks: (8.59 GB/8.00 GiB)\n[    1.3]  sda: sda1 sda2\n${initramfsToolsGiveUp('/dev/vda1')}`;
    expect(top(log)[0]).toEqual(['VMCE', 0.6]);
  });

  it('the disk is there with partitions, root= names one it does not have: VMCE', () => {
    const log = `${kvmStart}\n[    1.3]  vda: vda1 vda2\n${initramfsToolsGiveUp('/dev/vda3')}`;
    expect(top(log)[0]?.[0]).toBe('VMCE');
  });

  it('the whole disk is there and named, no filesystem on it (initramfs-tools checks get_fstype): DIDF first', () => {
    const log = `${xenPvStart}\n[    5.4] blkfront: xvda: flush diskcache: enabled; persistent grants: enabled;\n${initramfsToolsGiveUp('/dev/xvda')}`;
    expect(top(log).map(([f]) => f)).toEqual(['DIDF', 'UVDE', 'VMCE']);
  });

  it('a complete log in which no disk ever appears (not Xen): UVKE', () => {
    expect(top(`${kvmStart}\n${initramfsToolsGiveUp('UUID=1b2c')}`)[0]).toEqual(['UVKE', 0.6]);
  });

  it('a Xen PV domain that saw no vbd at all: VMCE (no disk in the config)', () => {
    expect(top(`${xenPvStart}\n${initramfsToolsGiveUp('/dev/xvda1')}`)[0]).toEqual(['VMCE', 0.6]);
  });

  it('a Xen vbd with no driver and no blkfront after it: UVKE alone', () => {
    const log = `${xenPvStart}\n[    2.6] xenbus_probe_frontend: Device with no driver: device/vbd/51712\n${initramfsToolsGiveUp('/dev/xvda1')}`;
    expect(top(log)).toEqual([['UVKE', 0.6]]);
  });

  it('a storage module that is not there: UVKE; a module that does not hold disks is no evidence', () => {
    const missing = (mod: string) =>
      `modprobe: FATAL: Module ${mod} not found in directory /lib/modules/5.4.0\n${initramfsToolsGiveUp('/dev/sda1')}`;
    expect(top(missing('hv_storvsc'))[0]).toEqual(['UVKE', 0.6]);
    expect(top(missing('scsi_wait_scan'))[0]?.[0]).toBe('VMCE');
  });

  it('the kernel itself tried root=UUID= (only an initramfs resolves it): UVKE', () => {
    const log = [
      'VFS: Cannot open root device "UUID=1b2c" or unknown-block(0,0): error -6',
      'Please append a correct "root=" boot option; here are the available partitions:',
      'ca00         1656832 xvda',
      ' driver: vbd',
      'Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)',
    ].join('\n');
    expect(top(log)[0]).toEqual(['UVKE', 0.6]);
  });

  it('the kernel lists its block devices and there are none: UVKE; root= names none of those listed: VMCE', () => {
    const panic = (list: string[]) =>
      [
        'VFS: Cannot open root device "vda" or unknown-block(0,0): error -6',
        'Please append a correct "root=" boot option; here are the available partitions:',
        ...list,
        'Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)',
      ].join('\n');
    expect(top(panic([]))[0]).toEqual(['UVKE', 0.6]);
    expect(top(panic(['0800        8388608 sda ', ' driver: sd']))[0]).toEqual(['VMCE', 0.6]);
  });

  it('a data disk fstab names times out after the root was mounted: VMCE, then UVDE, never UVKE', () => {
    const log = [
      '[    3.1] EXT4-fs (nvme0n1p1): mounted filesystem with ordered data mode. Opts: (null)',
      '[ TIME ] Timed out waiting for device /dev/xvdb.',
      '[DEPEND] Dependency failed for /opt/pgdata.',
    ].join('\n');
    expect(top(log).map(([f]) => f)).toEqual(['VMCE', 'UVDE']);
  });

  it('only a swap volume is missing (rd.lvm.lv=, resume=, an fstab swap), not the root: VMCE', () => {
    const dracut = [
      '[  188.000765] dracut-initqueue[324]: Warning: /dev/VG/SwapVol does not exist',
      '         Starting Dracut Emergency Shell...',
    ].join('\n');
    expect(top(dracut)[0]?.[0]).toBe('VMCE');
    const systemd =
      '[ *** ] A start job is running for dev-mapper-rhel\\x2dswap.device (1min 12s / 1min 30s)';
    expect(top(systemd)[0]?.[0]).toBe('VMCE');
    // The root LV missing with the swap LV is the whole volume group: not a swap reading.
    const both = [
      'dracut-initqueue[372]: Warning: /dev/centos/root does not exist.',
      'dracut-initqueue[372]: Warning: /dev/centos/swap does not exist.',
    ].join('\n');
    expect(top(both)[0]?.[0]).not.toBe('VMCE');
  });

  it("systemd waiting for a serial console or a network interface is no missing disk (a healthy boot's noise)", () => {
    const log = [
      '[ TIME ] Timed out waiting for device dev-ttyS0.device.',
      '[DEPEND] Dependency failed for Serial Getty on ttyS0.',
      '[ TIME ] Timed out waiting for device sys-subsystem-net-devices-eth0.device.',
      '[  OK  ] Started OpenBSD Secure Shell server.',
    ].join('\n');
    expect(top(log)).toEqual([]);
    // The same line for a disk is read as one.
    expect(top('[ TIME ] Timed out waiting for device dev-xvdb.device.').length).toBeGreaterThan(0);
  });

  it('a start job for a device named by its path (/dev/mapper/…-swap) is the same device wait', () => {
    const log = '[ ***  ] A start job is running for /dev/mapper/rhel-swap (1min 2s / 1min 30s)';
    expect(diagnoseConsole(log, rules).matches.map((m) => m.ruleId)).toEqual([
      'start-job-running-for-device',
    ]);
    expect(top(log)[0]?.[0]).toBe('VMCE');
  });

  it("systemd's fsck unit given up before local-fs.target failed: a data disk in the real root, VMCE then UVDE", () => {
    const log = [
      '[DEPEND] Dependency failed for Local File Systems.',
      '[DEPEND] Dependency failed for File System Check on /dev/disk/by-label/boot.',
    ].join('\n');
    expect(
      top(log)
        .map(([f]) => f)
        .slice(0, 2),
    ).toEqual(['VMCE', 'UVDE']);
  });

  it('systemd in the initrd timing out on the root (/sysroot) is a root device, not a data disk', () => {
    const log = [
      '[ TIME ] Timed out waiting for device dev-disk-by\\x2duuid-5d1c.device - /dev/disk/by-uuid/5d1c.',
      '[DEPEND] Dependency failed for /sysroot.',
    ].join('\n');
    expect(top(log)[0]?.[0]).toBe('UVKE');
  });

  it('"Volume group not found" before the LUKS passphrase prompt is no cause', () => {
    const log = [
      '  Volume group "ubuntu-vg" not found',
      '  Cannot process volume group ubuntu-vg',
      'Please unlock disk sda5_crypt: ',
    ].join('\n');
    expect(top(log)).toEqual([]);
  });

  it('"Volume group not found" with no guest boot around it (LVM in dom0): the backing storage, UVDE', () => {
    expect(
      top('  Volume group "qubes_dom0" not found\n  Cannot process volume group qubes_dom0')[0]?.[0],
    ).toBe('UVDE');
  });

  it('the same lines followed by a guest kernel panic are a guest boot: not dom0 LVM; the panic ranks below', () => {
    const log = [
      '  Reading all physical volumes. This may take a while...',
      '  Volume group "VolGroup00" not found',
      'Kernel panic - not syncing: Attempted to kill init!',
    ].join('\n');
    const causes = diagnoseConsole(log, rules).causes;
    expect(causes[0]?.paperFault).toBe('UVKE');
    // dom0's reading would give UVDE 0.5; the guest's reading keeps it as the least likely family.
    expect(causes.find((c) => c.paperFault === 'UVDE')?.confidence).toBeLessThanOrEqual(0.3);
    expect(causes.find((c) => c.code === 'UNKNOWN_KERNEL')?.confidence).toBeLessThan(
      causes[0]?.confidence ?? 0,
    );
  });

  it('the initramfs cannot load the disk driver and nothing follows: UVKE evidence; not when a disk appears after', () => {
    const fatal = [
      'dracut-pre-trigger[373]: modprobe: FATAL: Module xen-blkfront not found in directory /lib/modules/5.14.18',
      'dracut-pre-trigger[375]: cat: /sys/class/block/xvda/ro: No such file or directory',
    ].join('\n');
    const report = diagnoseConsole(fatal, rules);
    expect(report.verdict).toBe('NO_VERDICT');
    expect(report.causes[0]).toMatchObject({ paperFault: 'UVKE', confidence: 0.4 });
    // An alias tried first, then the driver loads: the disk shows, nothing is wrong.
    const alias = [
      'modprobe: FATAL: Module xenblk not found in directory /lib/modules/6.1.0',
      '[    1.2] blkfront: xvda: flush diskcache: enabled; persistent grants: enabled;',
    ].join('\n');
    expect(diagnoseConsole(alias, rules).causes).toEqual([]);
    expect(
      diagnoseConsole(`${fatal}\n[    1.2] blkfront: xvda: flush diskcache: enabled;`, rules).causes,
    ).toEqual([]);
  });

  it("blkid in the rescue shell: a partition with no signature is the root's content gone (DIDF); all typed is not", () => {
    const gaveUp = [
      'dracut-initqueue[426]: Warning: dracut-initqueue timeout - starting timeout scripts',
      'dracut-initqueue[426]: Warning: /dev/mapper/fedora-root does not exist',
      'dracut:/# blkid',
    ];
    const wiped = [
      ...gaveUp,
      '/dev/sda1: UUID="3f0c" TYPE="ext4" PARTUUID="9e4a-01"',
      '/dev/sda2: PARTUUID="9e4a-02"',
    ];
    expect(top(wiped.join('\n'))[0]?.[0]).toBe('DIDF');
    // GPT's BIOS boot partition is empty by design; an extended partition carries a table.
    const benign = [
      ...gaveUp,
      '/dev/sda1: PARTLABEL="BIOS boot partition" PARTUUID="1d2e"',
      '/dev/sda2: PTTYPE="dos" PARTUUID="9e4a-02"',
      '/dev/sda5: UUID="Xy1" TYPE="LVM2_member" PARTUUID="9e4a-05"',
    ];
    expect(top(benign.join('\n'))[0]?.[0]).not.toBe('DIDF');
    // root= naming the very partition blkid finds empty.
    const named = [
      'Gave up waiting for root file system device.',
      'ALERT!  /dev/vda1 does not exist.  Dropping to a shell!',
      '(initramfs) blkid',
      '/dev/vda1: PARTUUID="77aa-01"',
    ];
    expect(top(named.join('\n'))[0]).toEqual(['DIDF', 0.6]);
  });

  it("xenbus's vbd timeout with the pr_fmt prefix of kernels since 3.x is the same line; a vif's is not a disk's", () => {
    expect(
      first(
        '[   35.1] xenbus_probe_frontend: Timeout connecting to device: device/vbd/51712 (local state 3, remote state 1)',
      ),
    ).toBe('xenbus-timeout-vbd');
    expect(
      first(
        '[   35.1] xenbus_probe_frontend: Timeout connecting to device: device/vif/0 (local state 3, remote state 1)',
      ),
    ).not.toBe('xenbus-timeout-vbd');
  });

  it("busybox mount's ENOENT on a disk the kernel shows is no filesystem driver (UVKE); on an unseen disk it stays a missing device", () => {
    const mount = 'mount: mounting /dev/vda on /sysroot failed: No such file or directory';
    const shown = ['virtio_blk virtio0: [vda] 4194304 512-byte logical blocks (2.15 GB/2.00 GiB)', mount];
    // Evidence, not a failure, until the boot stops: 0.55 scaled to 0.44.
    expect(top(shown.join('\n'))[0]).toEqual(['UVKE', 0.44]);
    expect(top(mount)[0]?.[0]).not.toBe('UVKE');
    // A partition the scan did not list is not there: the name, not the driver.
    const partition = [
      'virtio_blk virtio0: [vda] 4194304 512-byte logical blocks (2.15 GB/2.00 GiB)',
      ' vda: vda1',
      'mount: mounting /dev/vda2 on /sysroot failed: No such file or directory',
    ];
    expect(top(partition.join('\n'))[0]?.[0]).toBe('VMCE');
  });

  it('a repeated give-up line is one observation: dracut repeating its timeout does not raise the confidence', () => {
    const once = 'dracut-initqueue[395]: Warning: dracut-initqueue timeout - starting timeout scripts';
    expect(top(Array(12).fill(once).join('\n'))).toEqual(top(once));
  });

  it('"tried:" with the filesystem types on the lines after it (Linux >= 4.9) is the non-empty list: DIDF', () => {
    const tried = '[    3.393071] No filesystem could mount root, tried: ';
    expect(top(`${tried}\n[    3.393173]  ext3\n[    3.393266]  ext4`)[0]?.[0]).toBe('DIDF');
    expect(
      top(
        `${tried}\n[    3.394073] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(202,0)`,
      )[0]?.[0],
    ).toBe('UVKE');
  });

  it('reads systemd unit names and dracut hook names back as device paths', () => {
    expect(normaliseDeviceName('dev-disk-by\\x2duuid-1b2c\\x2d9f.device')).toBe('/dev/disk/by-uuid/1b2c-9f');
    expect(normaliseDeviceName('\\x2fdev\\x2fmapper\\x2frootvg-rootlv')).toBe('/dev/mapper/rootvg-rootlv');
    expect(classifyDeviceName('dev-xvdb.device')).toMatchObject({
      kind: 'kernel',
      disk: 'xvdb',
      partition: false,
    });
    expect(classifyDeviceName('/dev/nvme0n1p2')).toMatchObject({
      kind: 'kernel',
      disk: 'nvme0n1',
      partition: true,
    });
    expect(classifyDeviceName('PARTUUID=ed8-01').kind).toBe('persistent');
    expect(classifyDeviceName('/dev/centos/root').kind).toBe('volume');
  });
});

describe('the required-literal prefilter (required-literals.ts)', () => {
  it('finds what a match must contain, and gives up on what it does not understand', () => {
    expect(requiredLiterals(String.raw`ALERT!\s+(?<device>\S+) does not exist\.`)).toEqual([
      [' does not exist.'],
      ['ALERT!'],
    ]);
    expect(requiredLiterals('Gave up waiting for root (?:file system )?device')).toEqual([
      ['Gave up waiting for root '],
      ['device'],
    ]);
    expect(requiredLiterals('(?:abc|defg)x+yz')).toEqual([['abc', 'defg'], ['yz']]);
    expect(requiredLiterals('colou?r scheme')).toEqual([['r scheme'], ['colo']]);
    expect(requiredLiterals('ab{0,2}cdef')).toEqual([['cdef']]);
    expect(requiredLiterals('(?i)panic')).toBeNull();
    // A scoped flag group gives nothing; the rest of the pattern still does.
    expect(requiredLiterals('(?i:warning): (?<d>/dev/\\S+) does not exist')).toEqual([
      [' does not exist'],
      ['/dev/'],
      [': '],
    ]);
    // A few plain characters in a class multiply the run; two short sets together are kept, one alone is not.
    expect(requiredLiterals('(?:[shv]d|xvd)[a-z]+: ')).toEqual([['sd', 'hd', 'vd', 'xvd'], [': ']]);
    expect(requiredLiterals('[shv]d[a-z]+')).toBeNull();
    expect(requiredLiterals('[a-z]d[^x]q')).toBeNull();
    expect(requiredLiterals('(?:abc|)def')).toEqual([['def']]);
    expect(requiredLiterals('(?:abc|)de')).toBeNull();
    expect(requiredLiterals('a|bc')).toBeNull();
    expect(requiredLiterals(String.raw`\Qa.b\E`)).toBeNull();
  });
  it('never requires what a match lacks: random patterns against random lines (RE2 as the judge)', () => {
    // Patterns from the constructs the extraction reads (runs, small classes, groups, alternation,
    // quantifiers, scoped flags), over a small alphabet so that random lines often match.
    const atom = fc.constantFrom('a', 'b', 'abc', 'bca', ': ', '[ab]', '[a:]', '.', '\\s', '\\w', 'c', 'ab:');
    const pattern = fc.letrec((tie) => ({
      item: fc.oneof(
        { weight: 4, arbitrary: atom },
        { weight: 1, arbitrary: tie('seq').map((x) => `(?:${x})`) },
        { weight: 1, arbitrary: fc.tuple(tie('seq'), tie('seq')).map(([x, y]) => `(?:${x}|${y})`) },
        { weight: 1, arbitrary: tie('seq').map((x) => `(?i:${x})`) },
      ),
      quantified: fc
        .tuple(tie('item'), fc.constantFrom('', '', '', '?', '*', '+', '{2}', '{0,1}'))
        .map(([x, q]) => `${x}${q}`),
      seq: fc.array(tie('quantified'), { minLength: 1, maxLength: 4 }).map((xs) => xs.join('')),
    })).seq;
    // Lines made of the same pieces: about 400 of them match their pattern in the 3000 runs.
    const line = fc
      .array(fc.constantFrom('a', 'b', 'c', 'abc', 'bca', ': ', ' ', 'A', 'ab:', ':'), { maxLength: 8 })
      .map((x) => x.join(''));
    fc.assert(
      fc.property(pattern, fc.array(line, { minLength: 1, maxLength: 30 }), (source, lines) => {
        const sets = requiredLiterals(source);
        if (!sets) return;
        const re = LinearRegex.compile(source);
        for (const l of lines)
          if (re.test(l))
            expect(
              sets.every((set) => set.some((lit) => l.includes(lit))),
              `${source} on ${l}`,
            ).toBe(true);
      }),
      { numRuns: 3000, seed: 20121123 },
    );
  });
  it('matching with and without it gives the same matches on every sample, fixture and recorded console', () => {
    const texts = [
      ...Object.values(SAMPLES).flatMap((s) => [s.hit, s.miss]),
      ...readdirSync(CONSOLES)
        .filter((f) => f.endsWith('.txt'))
        .map((f) => readFileSync(path.join(CONSOLES, f), 'utf8')),
    ];
    for (const text of texts) {
      const fast = new ConsoleMatcher(rules, { matchBurstBytes: Number.MAX_SAFE_INTEGER });
      const slow = new ConsoleMatcher(rules, { matchBurstBytes: Number.MAX_SAFE_INTEGER, prefilter: false });
      expect(fast.feed(`${text}\n`, 0)).toEqual(slow.feed(`${text}\n`, 0));
    }
  });
});

describe('a bare mount failure after the filesystem driver said why', () => {
  it("the testbed's 5.10 guest on an xfs with nrext64: the XFS line (UVKE) outranks 'failed: Invalid argument'", () => {
    const log = readFileSync(
      path.join(import.meta.dirname, 'fixtures', 'timelines', 'uvke-xfs-feature-newer.console.txt'),
      'utf8',
    );
    const report = diagnoseConsole(log, rules);
    expect(report.verdict).toBe('FAILED');
    expect(report.causes[0]).toMatchObject({ code: 'UVKE' });
    expect(report.causes.map((c) => c.code)).not.toContain('DIDF');
    // Without the driver's own line, the bare failure still points at the disk.
    const bare = diagnoseConsole('mount: mounting /dev/xvda1 on /root failed: Invalid argument\n', rules);
    expect(bare.causes[0]?.code).toBe('DIDF');
  });
});

describe('a console line that names its device speaks of that disk', () => {
  it('EXT4-fs error (device xvdb1) is DIDF on xvdb; with the VM disks known, an unknown name is kept without a disk', () => {
    const log =
      'EXT4-fs error (device xvdb1): ext4_validate_block_bitmap:423: comm mount: bg 9: bad block bitmap checksum\n';
    const causes = diagnoseConsole(log, rules).causes.filter((c) => c.code === 'DIDF');
    expect(causes[0]).toMatchObject({ code: 'DIDF', disk: 'xvdb' });
    const m = new ConsoleMatcher(rules).feed(log, 0);
    expect(analyseConsole(m, false, ['xvda', 'xvdb'])[0]).toMatchObject({ disk: 'xvdb' });
    expect(analyseConsole(m, false, ['xvda'])[0]?.disk).toBeUndefined();
  });
});

describe("xl's and libxl's own lines in a saved log", () => {
  const causes = (log: string) => diagnoseConsole(log, rules).causes;
  it("are not read on a live guest's console: there the text is the guest's own (testVm's matcher)", () => {
    const line =
      'libxl: error: libxl_create.c:1685:domcreate_launch_dm: Domain 5:unable to add disk devices\n';
    expect(new ConsoleMatcher(rules).feed(line, 0).map((m) => m.ruleId)).toEqual(['libxl-error']);
    expect(new ConsoleMatcher(guestConsoleRules(rules)).feed(line, 0)).toEqual([]);
  });
  it('a hotplug failure (libxl_device.c, libxl_create.c) is the backing storage, UVDE, with every line as evidence', () => {
    const log = [
      'Parsing config from /etc/xen/domu.cfg',
      'libxl: error: libxl_exec.c:117:libxl_report_child_exitstatus: /etc/xen/scripts/block add [2283] exited with error status 1',
      'libxl: error: libxl_device.c:1106:device_backend_callback: Domain 5:unable to add device with path /local/domain/0/backend/vbd/5/51712',
      'libxl: error: libxl_create.c:1685:domcreate_launch_dm: Domain 5:unable to add disk devices',
    ].join('\n');
    const report = diagnoseConsole(log, rules);
    expect(report.verdict).toBe('FAILED');
    expect(report.causes[0]).toMatchObject({ code: 'HOTPLUG_ERROR', paperFault: 'UVDE' });
    expect(report.causes[0]?.evidence).toHaveLength(3);
  });
  it("libxc's loader refusing the kernel is UVKE; xl's memory error is VMCE; an unknown libxl error is kept, unranked", () => {
    expect(
      causes('xc: error: panic: xg_dom_core.c:690: xc_dom_find_loader: no loader found: Invalid kernel')[0],
    ).toMatchObject({ paperFault: 'UVKE' });
    expect(causes('failed to free memory for the domain')[0]).toMatchObject({ paperFault: 'VMCE' });
    const odd = causes('libxl: error: libxl_foo.c:12:libxl_bar: Domain 3:something new went wrong');
    expect(odd[0]?.evidence[0]?.value).toContain('something new went wrong');
    expect(odd[0]?.confidence).toBeLessThan(0.6);
  });
});

describe('GRUB 2 in the guest', () => {
  const report = (...lines: string[]) => diagnoseConsole(lines.join('\n'), rules);
  it('the rescue shell after a search that found no filesystem: FAILED, DIDF', () => {
    const r = report(
      'error: no such device: 5b2b0455-ca39-40c8-9547-30cfa9adc02a.',
      'Entering rescue mode...',
      'grub rescue> ',
    );
    expect(r.verdict).toBe('FAILED');
    expect(r.causes[0]?.paperFault).toBe('DIDF');
  });
  it('an entry whose kernel is not in /boot: FAILED, UVKE', () => {
    const r = report(
      "error: file '/boot/vmlinuz-5.10.0-9-amd64' not found.",
      'error: you need to load the kernel first.',
      'Press any key to continue...',
    );
    expect(r.verdict).toBe('FAILED');
    expect(r.causes[0]?.paperFault).toBe('UVKE');
  });
  it("pvgrub's probe for a PV grub to chainload, on a healthy boot (testbed deb-normal-pvgrub), is no evidence", () => {
    const r = report(
      'Welcome to GRUB!',
      'error: no such device: /boot/xen/pvboot-x86_64.elf.',
      'error: no such device: /xen/pvboot-x86_64.elf.',
      'Reading (xen/xvda,msdos1)/boot/grub/grub.cfg',
      "  Booting `Debian GNU/Linux 12 (bookworm)'",
      '[    8.1] EXT4-fs error (device xvda1): ext4_lookup:1855: inode #2: comm init: deleted inode referenced: 12',
    );
    expect(r.matches.map((m) => m.ruleId)).toEqual(['ext4-fs-error']);
    expect(r.causes.map((c) => c.paperFault)).toEqual(['DIDF']);
    // With no grub.cfg anywhere the same search for it is a real miss.
    expect(report('error: no such device: /boot/grub/grub.cfg.').matches.map((m) => m.ruleId)).toEqual([
      'grub-no-such-device',
    ]);
  });
  it('a missing translation on a boot that goes on is no failure', () => {
    const r = report(
      "error: file `/boot/grub/locale/en.mo.gz' not found.",
      'Loading Linux 6.1.0-13-amd64 ...',
      'debian login: ',
    );
    expect(r.verdict).toBe('BOOTED');
    expect(r.matches.map((m) => m.ruleId)).toEqual(['login-prompt']);
  });
});
