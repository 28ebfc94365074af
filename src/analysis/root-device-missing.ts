/**
 * "The device was not found": initramfs-tools' `ALERT!  X does not exist`, dracut's `Could not boot`
 * and `X does not exist`, mkinitcpio's `device 'X' not found`, systemd's `Timed out waiting for
 * device X`, the kernel's `VFS: Cannot open root device`, LVM's `Volume group "X" not found`.
 *
 * Each of these lines says only that a name did not resolve to a usable device. Four families
 * print it: the VM's config gives the VM no such disk, or root=/fstab names a disk, partition or
 * UUID the VM does not have (VMCE); the kernel or initramfs has no driver for the disk's bus, so
 * no disk appears at all (UVKE); the disk appears but what carries the name (its partition table,
 * the filesystem superblock holding the UUID, the LVM label) is damaged (DIDF); or the disk's
 * backing storage is empty or missing (UVDE). Which one is read from the rest of the log, not
 * from the give-up line. Rules mark what this module reads with a `cue` (rules/default.yaml):
 *
 *   device-missing  a give-up line; captures `device` (the name as given) or `vg`
 *   disk-present    the kernel shows a disk: capacity, partition scan, blkfront, the panic's list;
 *                   captures `disk` and, for a partition scan, `partitions`
 *   disk-list       the kernel lists every block device it has (`here are the available partitions:`)
 *   kernel-start    the log starts at the kernel's start (`Linux version`, `Command line:`);
 *                   captures `root` when the command line has root=
 *   xen-pv          the guest is a Xen PV domain
 *   driver-missing  a disk or filesystem driver could not be loaded, or the initramfs's device
 *                   manager died; captures `module` or `device` (`Device with no driver: device/vbd/N`)
 *   root-mounted    a filesystem was mounted as root
 *   mount-dependency  systemd gave up a mount unit; captures `mount`
 *   luks-prompt     the initramfs asks for a LUKS passphrase
 *   blkid-entry     a line of blkid's output in the rescue shell; captures `device` and `tags`
 * (fs-tried, the filesystem types under "No filesystem could mount root", is read by syslog-analysis.ts.)
 *
 * A rule with cue device-missing gives no cause of its own (syslog-analysis.ts skips it); the
 * causes below speak for all give-up lines of the log at once, so that repeated lines and the
 * several lines one failure prints (Gave up + ALERT, Could not boot + does not exist) are one
 * observation, not confirmations of each other.
 *
 * The weights are for a console alone. Whatever dom0 proved (the preflight, xenstore) is ranked
 * before any of them (evidence.ts rankCauses), so they only order the console's own guesses.
 */
import type { ConsoleMatch } from '../monitor/vm-console-monitor.js';
import { type Cause, type CauseCode, PAPER_FAULT } from './evidence.js';

/** What kind of name the give-up line names; see weigh() for what each implies. */
export type NameKind = 'none-given' | 'kernel' | 'persistent' | 'volume' | 'other';

export interface DeviceName {
  kind: NameKind;
  /** As normalised: /dev/xvda1, UUID=..., /dev/mapper/vg-root. */
  name: string;
  /** For a kernel name: the whole disk (xvda, nvme0n1) and whether a partition was named. */
  disk?: string;
  partition?: boolean;
}

/** systemd unit names (`dev-disk-by\x2duuid-….device`, `sys-subsystem-net-devices-eth0.device`) and dracut hook names (`\x2fdev\x2f…`) back to paths. */
export function normaliseDeviceName(raw: string): string {
  let s = raw.trim().replace(/^["']|["']$/g, '');
  if (/^(?:dev|sys)-.*\.device$/.test(s)) {
    s = `/${s
      .slice(0, -'.device'.length)
      .replace(/-/g, '/')
      .replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)))}`;
  } else {
    s = s.replace(/\\x2[fF]/g, '/').replace(/\\x2[dD]/g, '-');
  }
  return s;
}

const KERNEL_NAME =
  /^(?:\/dev\/)?(?:(?<sd>(?:[shv]d|xvd|vd)[a-z]+)(?<sdPart>\d+)?|(?<nv>nvme\d+n\d+|mmcblk\d+)(?:p(?<nvPart>\d+))?)$/;

export function classifyDeviceName(raw: string): DeviceName {
  const name = normaliseDeviceName(raw);
  if (name === '(null)' || name === '') return { kind: 'none-given', name };
  if (/^(?:PART)?(?:UUID|LABEL)=/i.test(name) || name.startsWith('/dev/disk/by-'))
    return { kind: 'persistent', name };
  const k = KERNEL_NAME.exec(name)?.groups;
  if (k) {
    const disk = k.sd ?? k.nv ?? '';
    return { kind: 'kernel', name, disk, partition: (k.sdPart ?? k.nvPart) !== undefined };
  }
  // Names the initramfs assembles: device-mapper (LVM, dm-crypt), /dev/VG/LV, md arrays.
  if (/^\/dev\/(?:mapper\/|md\/|md\d|dm-\d)/.test(name) || /^\/dev\/[^/]+\/[^/]+$/.test(name))
    return { kind: 'volume', name };
  return { kind: 'other', name };
}

/** The whole disk a console line's device capture names (EXT4-fs (xvdb1) -> xvdb), when it is a disk's kernel name. */
export function diskOfCapture(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  const name = normaliseDeviceName(raw).replace(/^\/dev\//, '');
  return KERNEL_NAME.test(name) ? diskOf(name) : undefined;
}

/** The whole disk a kernel block device name belongs to: xvda1 -> xvda, nvme0n1p2 -> nvme0n1. */
export function diskOf(name: string): string {
  const k = KERNEL_NAME.exec(name)?.groups;
  return k ? (k.sd ?? k.nv ?? name) : name;
}

/**
 * Disk and filesystem drivers, and the initramfs's device manager: a missing module of these
 * explains a disk that never appears. Other modules (sound, network, the scsi_wait_scan helper
 * that old Ubuntu initramfs asked for on every boot) do not.
 */
const STORAGE_MODULE =
  /^(?:xen[-_]blkfront|virtio(?:[-_](?:blk|scsi|pci|mmio|ring|iommu))?|nvme(?:[-_]core)?|hv[-_](?:storvsc|vmbus)|sd[-_]mod|ahci|ata[-_]\w+|libata|pata[-_]\w+|mptspi|mptsas|vmw[-_]pvscsi|megaraid\w*|dm[-_](?:mod|crypt|snapshot|mirror)|raid\d+|md[-_]mod|ext[234]|xfs|btrfs|crc32c\w*|libcrc32c|jbd2|mbcache|f2fs|squashfs|overlay|zfs|scsi[-_]mod)$/;

interface Missing {
  match: ConsoleMatch;
  device?: DeviceName;
  /** An LVM volume group, from `Volume group "X" not found`. */
  vg?: string;
}

interface Context {
  /** Whole disks the kernel showed (name -> partitions it showed, possibly none). */
  disks: Map<string, Set<string>>;
  diskList: boolean;
  kernelStart: boolean;
  /** A kernel panic: the lines come from a guest's boot, not from dom0's tools. */
  guestPanic: boolean;
  cmdlineRoot?: string;
  xenPv: boolean;
  /** Xen vbds that had no driver when xenbus probed them. */
  vbdWithoutDriver: ConsoleMatch[];
  blkfront: boolean;
  /** Disk or filesystem drivers that could not be loaded, or the device manager crashed. */
  driverMissing: ConsoleMatch[];
  rootMountedAt?: number;
  /** Mount points systemd gave up because a dependency (the device) failed. */
  dependencyMounts: string[];
  luksPromptAt?: number;
  /** What blkid, run in the rescue shell, printed per device: whether it found a signature. */
  blkid: BlkidEntry[];
}

/** One line of blkid's output (util-linux misc-utils/blkid.c print_tags: `/dev/sda1: UUID="…" TYPE="ext4"`). */
interface BlkidEntry {
  device: string;
  /** TYPE=: the filesystem, swap, LVM2_member, crypto_LUKS, linux_raid_member blkid recognised. */
  type?: string;
  /** PTTYPE=: a partition table on the device (a whole disk, or an extended partition). */
  ptType?: string;
  partLabel?: string;
}

function parseBlkidTags(device: string, tags: string): BlkidEntry {
  const entry: BlkidEntry = { device };
  for (const t of tags.matchAll(/\b([A-Z_]+)="([^"]*)"/g)) {
    if (t[1] === 'TYPE') entry.type = t[2];
    else if (t[1] === 'PTTYPE') entry.ptType = t[2];
    else if (t[1] === 'PARTLABEL') entry.partLabel = t[2];
  }
  return entry;
}

/**
 * Partitions that carry no content blkid recognises, though the partition table lists them. GPT's
 * BIOS boot and Microsoft reserved partitions are empty by design, so they are left out by their
 * label; a partition with a partition table of its own is an extended one.
 */
function untypedPartitions(ctx: Context): string[] {
  return ctx.blkid
    .filter((e) => {
      const k = KERNEL_NAME.exec(e.device.replace(/^\/dev\//, ''))?.groups;
      const isPartition = (k?.sdPart ?? k?.nvPart) !== undefined;
      return (
        isPartition &&
        e.type === undefined &&
        e.ptType === undefined &&
        !/bios|boot|grub|reserved|msr|efi/i.test(e.partLabel ?? '')
      );
    })
    .map((e) => e.device);
}

type Weights = Partial<Record<'VMCE' | 'UVKE' | 'DIDF' | 'UVDE', number>>;

function readContext(matches: ConsoleMatch[]): Context {
  const ctx: Context = {
    disks: new Map(),
    diskList: false,
    kernelStart: false,
    guestPanic: false,
    xenPv: false,
    vbdWithoutDriver: [],
    blkfront: false,
    driverMissing: [],
    dependencyMounts: [],
    blkid: [],
  };
  matches.forEach((m, i) => {
    if (/^Kernel panic - not syncing/.test(m.line.replace(/^\[[\s\d.]+\]\s*/, ''))) ctx.guestPanic = true;
    switch (m.cue) {
      case 'disk-present': {
        const disk = m.captures.disk;
        // The panic's list also shows ramdisks, loop devices, CD-ROMs and floppies: not the VM's disks.
        if (!disk || /^(?:ram|loop|zram|nbd|sr|fd)\d*$/.test(disk)) break;
        const whole = diskOf(disk);
        const parts = ctx.disks.get(whole) ?? new Set<string>();
        if (whole !== disk) parts.add(disk);
        for (const p of (m.captures.partitions ?? '').split(/\s+/)) {
          if (!/\d$/.test(p)) continue;
          // nvme0n1: p1 p2 / mmcblk0: p1 — the scan prints partitions relative to the disk.
          parts.add(/^p\d+$/.test(p) ? `${whole}${p}` : p);
        }
        ctx.disks.set(whole, parts);
        if (m.ruleId === 'blkfront-disk-attached') ctx.blkfront = true;
        break;
      }
      case 'disk-list':
        ctx.diskList = true;
        break;
      case 'kernel-start':
        ctx.kernelStart = true;
        if (m.captures.root) ctx.cmdlineRoot ??= m.captures.root;
        break;
      case 'xen-pv':
        ctx.xenPv = true;
        break;
      case 'driver-missing': {
        if (m.captures.device !== undefined) ctx.vbdWithoutDriver.push(m);
        else if (m.captures.module === undefined || STORAGE_MODULE.test(m.captures.module))
          ctx.driverMissing.push(m);
        break;
      }
      case 'root-mounted': {
        ctx.rootMountedAt ??= i;
        // A filesystem mounted from a disk shows that disk as well.
        const dev = m.captures.device;
        if (dev && KERNEL_NAME.test(dev)) {
          const whole = diskOf(dev);
          const parts = ctx.disks.get(whole) ?? new Set<string>();
          if (whole !== dev) parts.add(dev);
          ctx.disks.set(whole, parts);
        }
        break;
      }
      case 'mount-dependency':
        if (m.captures.mount) ctx.dependencyMounts.push(m.captures.mount);
        break;
      case 'luks-prompt':
        ctx.luksPromptAt = i;
        break;
      case 'blkid-entry': {
        const dev = m.captures.device;
        if (!dev) break;
        ctx.blkid.push(parseBlkidTags(dev, m.captures.tags ?? ''));
        // The shell's own userland sees the device, so the kernel has its driver: a disk present.
        const name = dev.replace(/^\/dev\//, '');
        if (!KERNEL_NAME.test(name)) break;
        const whole = diskOf(name);
        const parts = ctx.disks.get(whole) ?? new Set<string>();
        if (whole !== name) parts.add(name);
        ctx.disks.set(whole, parts);
        break;
      }
    }
  });
  return ctx;
}

/**
 * What the give-up lines and the rest of the log say, as weights per family, with the
 * argument for each branch. Strong context gives 0.6 to one family (what a fatal console line
 * with a family gets elsewhere); a trimmed log gives two families close together.
 */
function weigh(missing: Missing[], ctx: Context, firstAt: number): { weights: Weights; why: string } {
  // Only LVM's `Volume group "X" not found`, no give-up line of a guest's initramfs, no kernel line:
  // LVM run in dom0 (Qubes and LVM-backed Xen hosts keep VM disks as LVs), where a missing VG is
  // the VM's backing storage gone (UVDE); a guest's initramfs would go on to give up on its root.
  const guestSide =
    ctx.kernelStart || ctx.guestPanic || ctx.disks.size > 0 || missing.some((m) => m.vg === undefined);
  if (!guestSide)
    return {
      weights: { UVDE: 0.5, UVKE: 0.3 },
      why: 'an LVM volume group is missing and no guest boot is around it (LVM in dom0)',
    };
  const names = missing.flatMap((m) => (m.device ? [m.device] : []));
  // A log that has only "Gave up"/"Could not boot" may still show root= on the kernel's command line.
  if (names.length === 0 && ctx.cmdlineRoot) names.push(classifyDeviceName(ctx.cmdlineRoot));
  const kinds = new Set(names.map((n) => n.kind));

  // The kernel was given no root= at all (`Cannot open root device "(null)"`): the VM's kernel
  // command line (xl.cfg root=/extra=, or no drive marked as root) is the config's.
  if (kinds.has('none-given'))
    return { weights: { VMCE: 0.6 }, why: 'the kernel was given no root= device at all' };

  // Every name given up on is a swap device, none the root. dracut waits for each rd.lvm.lv= and
  // resume= device as well as root= (modules.d/90lvm/parse-lvm.sh, 95resume/parse-resume.sh), systemd for each swap in fstab;
  // a missing driver or disk would take the root with it, and the root would be named too. What is
  // left is a config that names a swap volume the VM does not have (corpus 024, 079).
  const swapOnly = names.length > 0 && names.every(isSwapName);
  if (swapOnly)
    return {
      weights: { VMCE: 0.55, UVDE: 0.3 },
      why: `only a swap device is missing (${names[0]?.name}), not the root: the kernel command line (rd.lvm.lv=, resume=) or fstab names a swap the VM does not have`,
    };

  // Only systemd's device timeouts, and the mounts that depend on them are data mounts (not the
  // initrd's /sysroot), or the root was mounted before: the running kernel already reads its root
  // disk, so it has the block driver. A data disk fstab names that never comes is a stale fstab
  // entry or a disk the VM's config does not attach (VMCE), or a volume whose storage went away (UVDE).
  const onlySystemd = missing.every((m) => SYSTEMD_GAVE_UP.has(m.match.ruleId));
  const dataMounts = ctx.dependencyMounts.filter((p) => p.startsWith('/') && !p.startsWith('/sysroot'));
  const rootMountedBefore = ctx.rootMountedAt !== undefined && ctx.rootMountedAt < firstAt;
  // local-fs.target belongs to the real root: the initrd's root mount is under initrd-root-fs.target.
  const realRootUp = ctx.dependencyMounts.some((p) => /^Local file systems$/i.test(p));
  if (
    onlySystemd &&
    !ctx.dependencyMounts.some(isRootMount) &&
    (rootMountedBefore || realRootUp || dataMounts.length > 0)
  )
    return {
      weights: { VMCE: 0.55, UVDE: 0.35 },
      why: 'a data disk fstab names never appeared after the root was up (the kernel reads its root disk, so it has the block driver)',
    };

  // Xen: xenbus lists every vbd of the domain at boot and names those no driver took; with no
  // `blkfront: xvdX:` line after, xen-blkfront never loaded. The disk is in the VM's config and
  // its backend is there; the kernel and its initramfs cannot use it (drivers/xen/xenbus/
  // xenbus_probe_frontend.c, drivers/block/xen-blkfront.c). This alone explains the missing root.
  if (ctx.vbdWithoutDriver.length > 0 && !ctx.blkfront && ctx.disks.size === 0)
    return {
      weights: { UVKE: 0.6 },
      why: 'the Xen vbd had no driver at xenbus probe and no blkfront line followed',
    };
  if (ctx.driverMissing.length > 0 && ctx.disks.size === 0)
    return {
      weights: { UVKE: 0.6, VMCE: 0.3 },
      why: `a disk or filesystem driver could not be loaded (${ctx.driverMissing[0]?.line})`,
    };

  // The kernel itself resolves only device names, PARTUUID= and PARTLABEL= (init/do_mounts.c
  // name_to_dev_t); UUID= and LABEL= are resolved by an initramfs (udev/blkid). The kernel trying
  // root=UUID= itself means the initramfs the VM is set up for did not load or did not run.
  const kernelMounts = missing.some((m) => KERNEL_ROOT_RULES.has(m.match.ruleId));
  if (kernelMounts && names.some((n) => /^(?:UUID|LABEL)=/i.test(n.name)))
    return {
      weights: { UVKE: 0.6, VMCE: 0.3 },
      why: 'the kernel itself tried a UUID=/LABEL= root, which only an initramfs resolves (no initramfs ran)',
    };

  // busybox mount without -t tries each block filesystem the kernel lists (/etc/filesystems, then
  // /proc/filesystems) and reports the errno of the last attempt (util-linux/mount.c singlemount).
  // "No such file or directory" on a device the kernel shows: the node is there, so no type was
  // tried at all, errno is left from opening the absent /etc/filesystems: the kernel has no block
  // filesystem driver loaded (an initramfs that never loaded the root filesystem's module).
  const busyboxEnoent = missing.find(
    (m) =>
      m.match.ruleId === 'mount-root-no-such-file' && m.device?.kind === 'kernel' && shows(ctx, m.device),
  );
  if (busyboxEnoent?.device)
    return {
      weights: { UVKE: 0.55, DIDF: 0.3 },
      why: `busybox mount found no filesystem type to try on ${busyboxEnoent.device.name}, which the kernel shows: no block filesystem driver is loaded`,
    };

  // blkid in the rescue shell lists the disks (so the driver works) and a partition on which it
  // recognises nothing, no filesystem, no LVM or RAID label, no LUKS header: the content the root
  // name needed was on it and is gone, wiped or overwritten (corpus 128: fdisk removed an LVM PV's
  // label). root= naming that very partition says the same more strongly.
  const untyped = untypedPartitions(ctx);
  const namedUntyped = names.find(
    (n) =>
      n.kind === 'kernel' &&
      untyped.some((d) => d.replace(/^\/dev\//, '') === n.name.replace(/^\/dev\//, '')),
  );
  if (namedUntyped)
    return {
      weights: { DIDF: 0.6, UVDE: 0.3 },
      why: `blkid in the rescue shell sees ${namedUntyped.name} but recognises no filesystem on it`,
    };
  if (untyped.length > 0 && !kinds.has('kernel'))
    return {
      weights: { DIDF: 0.55, VMCE: 0.35, UVKE: 0.2 },
      why: `blkid in the rescue shell sees the disks but recognises no filesystem or volume label on ${untyped.join(', ')}`,
    };

  const seen = [...ctx.disks.keys()];
  if (seen.length > 0) return weighSeen(names, kinds, ctx);

  // No disk appeared, and the log shows the kernel from its start (so disk lines would be in it),
  // or the kernel itself listed its block devices and there were none.
  if (ctx.kernelStart || ctx.diskList) {
    // A Xen PV kernel reports every vbd of its domain at xenbus probe: a built-in blkfront says
    // `blkfront: xvda:`, a missing one `Device with no driver: device/vbd/N`. Neither: the
    // domain has no vbd, its config gives it no disk.
    if (ctx.xenPv)
      return {
        weights: { VMCE: 0.6, UVKE: 0.3 },
        why: 'the Xen PV kernel reported no vbd at all (no "Device with no driver: device/vbd", no "blkfront:")',
      };
    return {
      weights: { UVKE: 0.6, VMCE: 0.4 },
      why: 'the log covers the whole boot and the kernel showed no disk on any bus',
    };
  }
  // Only the panic, nothing else: the kernel mounted root itself, so no initramfs took over.
  // Distribution kernels build their disk and filesystem drivers as modules, which only the
  // initramfs loads: "unknown-block(0,0)" with nothing before it is most often a missing ramdisk.
  if (kernelMounts && names.length === 0)
    return {
      weights: { UVKE: 0.55, VMCE: 0.4 },
      why: 'the kernel mounted root itself (no initramfs took over) and found no device',
    };
  return weighTrimmed(names, kinds, missing);
}

/** Whether the kernel showed this disk, and the partition when the name is one. */
function shows(ctx: Context, n: DeviceName): boolean {
  const parts = n.disk ? ctx.disks.get(n.disk) : undefined;
  if (!parts) return false;
  return !n.partition || parts.has(n.name.replace(/^\/dev\//, ''));
}

/** systemd's own give-up lines for a device: the timeout, and the fsck unit bound to the device. */
const SYSTEMD_GAVE_UP = new Set(['timed-out-waiting-for-device', 'dependency-failed-fsck']);

/** A swap volume by its name: /dev/VG/swap, /dev/mapper/rhel-swap, LABEL=SWAP, by-label/swap0. */
function isSwapName(n: DeviceName): boolean {
  if (n.kind === 'kernel' || n.kind === 'none-given') return false;
  const last = n.name.split(/[/=]/).pop() ?? '';
  // device-mapper joins VG and LV with a dash: the LV is the part after the last single dash.
  const lv = n.name.startsWith('/dev/mapper/') ? (last.split(/(?<!-)-(?!-)/).pop() ?? last) : last;
  return /^(?:swap\w*|\w*swap(?:vol|lv|\d*)?)$/i.test(lv);
}

function isRootMount(p: string): boolean {
  return ['/sysroot', 'sysroot.mount', 'Initrd Root File System', 'Initrd Root Device'].includes(p);
}

/** Lines the kernel prints when it mounts root itself (no initramfs took over): init/do_mounts.c. */
const KERNEL_ROOT_RULES = new Set(['vfs-cannot-open-root', 'panic-unable-to-mount-root']);

/** The kernel showed disks and the name still did not resolve. */
function weighSeen(
  names: DeviceName[],
  kinds: Set<NameKind>,
  ctx: Context,
): { weights: Weights; why: string } {
  for (const n of names) {
    if (n.kind !== 'kernel' || !n.disk) continue;
    const parts = ctx.disks.get(n.disk);
    // root=/dev/vda1 while the VM's disks came up as sda (another bus) or xvdb while only xvda
    // exists (another order): the bus and the disk order are the VM config's choice.
    if (!parts)
      return {
        weights: { VMCE: 0.6, UVKE: 0.25 },
        why: `${n.name} names a disk the kernel does not show (it shows ${[...ctx.disks.keys()].join(', ')})`,
      };
    if (n.partition) {
      // The partition table was read and lacks this partition: root= names the wrong one.
      if (parts.size > 0)
        return {
          weights: { VMCE: 0.55, DIDF: 0.3 },
          why: `${n.disk} has partitions ${[...parts].join(' ')}, not ${n.name}`,
        };
      // The disk is there with no partition the kernel read: its table is damaged (DIDF), its
      // backing storage is empty (UVDE), or it holds a whole-disk filesystem and root= should name
      // the disk (VMCE). Only dom0 (the image itself) tells which.
      return {
        weights: { DIDF: 0.45, VMCE: 0.4, UVDE: 0.35 },
        why: `${n.disk} is attached but shows no partitions, so ${n.name} is not there`,
      };
    }
    // The whole disk is there and was named: initramfs-tools' local_device_setup() says "does
    // not exist" also when get_fstype finds no filesystem on an existing device, so the
    // filesystem is damaged or absent (DIDF), or the backing storage is empty (UVDE); a disk
    // with partitions named whole is root= naming the wrong device (VMCE).
    if (parts.size > 0)
      return {
        weights: { VMCE: 0.55, DIDF: 0.3 },
        why: `${n.name} is a partitioned disk (${[...parts].join(' ')}); root= names the whole disk`,
      };
    return {
      weights: { DIDF: 0.5, UVDE: 0.35, VMCE: 0.3 },
      why: `${n.name} is attached but no filesystem was recognised on it`,
    };
  }
  // A persistent name (UUID=, LABEL=, an LVM name) with the disks visible: the identifier is not
  // on them. It was written wrong or for another disk (VMCE), or the superblock / LVM label that
  // carries it is damaged (DIDF). The root could still sit on a disk of a bus with no driver.
  if (kinds.has('persistent') || kinds.has('volume'))
    return {
      weights: { VMCE: 0.5, DIDF: 0.4, UVKE: 0.25 },
      why: 'the kernel shows disks but none carries the identifier root=/fstab names',
    };
  return {
    weights: { VMCE: 0.5, UVKE: 0.35, DIDF: 0.3 },
    why: 'the kernel shows disks but the initramfs found no root device on them',
  };
}

/**
 * Only the give-up lines (a trimmed log): nothing shows whether any disk appeared. Both readings
 * stay, close together; the name decides which comes first.
 */
function weighTrimmed(
  names: DeviceName[],
  kinds: Set<NameKind>,
  missing: Missing[],
): { weights: Weights; why: string } {
  // A kernel device name (/dev/sda2, /dev/vda1, /dev/xvda1) encodes the bus and the disk order,
  // which the VM's config decides: the disk may well be there under another name (VMCE). A
  // missing driver (UVKE) explains it as well, so the two are close.
  if (kinds.has('kernel'))
    return {
      weights: { VMCE: 0.5, UVKE: 0.45 },
      why: 'a kernel device name is missing and the log shows nothing of the disks (the name depends on the bus and disk order the VM config sets)',
    };
  // An LVM volume group that is absent as a whole (`Volume group "X" not found`, or several LVs
  // of one VG missing): not a misspelt LV name but a physical volume that was not seen (no driver:
  // UVKE; disk not attached: UVDE) or not recognised (its label damaged: DIDF).
  const vgs = new Set<string>();
  for (const m of missing) {
    if (m.vg) vgs.add(m.vg);
    const lv = m.device?.kind === 'volume' ? lvmVgOf(m.device.name) : undefined;
    if (lv) vgs.add(lv);
  }
  const wholeVg =
    missing.some((m) => m.vg) ||
    [...vgs].some((vg) => new Set(names.filter((n) => lvmVgOf(n.name) === vg).map((n) => n.name)).size > 1);
  if (wholeVg)
    return {
      weights: { UVKE: 0.5, DIDF: 0.35, VMCE: 0.3, UVDE: 0.3 },
      why: 'a whole LVM volume group is absent: its physical volume was not seen or not recognised, the log shows nothing of the disks',
    };
  // A persistent name (UUID=, PARTUUID=, LABEL=, /dev/disk/by-*, an LV) does not depend on the
  // bus or the disk order, so a disk attached differently still carries it; what is left is an
  // identifier written wrong (VMCE) or no disk visible at all: the initramfs lacks the driver for
  // the bus the disk is on, the usual cause after a move to another hypervisor or a kernel update
  // (UVKE). No name at all: distributions write root=UUID= by default, so the same holds.
  return {
    weights: { UVKE: 0.5, VMCE: 0.45 },
    why:
      kinds.has('persistent') || kinds.has('volume')
        ? 'a persistent device name is missing and the log shows nothing of the disks (the name does not depend on the bus or disk order)'
        : kinds.size > 0
          ? `${names[0]?.name} did not resolve to a device, and the log shows nothing of the disks`
          : 'the initramfs found no root device, and the log shows nothing of the disks',
  };
}

/**
 * Whether a device systemd or an initramfs waited for can be a disk: not a terminal, a network
 * interface, a sound, input, TPM or clock device, or anything under /sys (unit names of
 * sys-subsystem-net-devices-eth0.device come back as /sys/subsystem/net/devices/eth0).
 */
export function isStorageName(name: string): boolean {
  if (name.startsWith('/sys/')) return false;
  return !/^\/dev\/(?:tty|hvc|console|serial|snd|input|tpm|rtc|fb\d|dri\/|net\/|kvm$|vhost|ptp|watchdog|hwrng|uinput|usb\/|bus\/usb|ppp$|cpu|mem$|null$|zero$|random$|urandom$|log$)/.test(
    name,
  );
}

/** The drivers that make a VM's disks appear at all: without one, no disk of that bus exists. */
const BLOCK_FRONTEND_MODULE = /^(?:xen[-_]blkfront|virtio[-_](?:blk|scsi)|hv[-_]storvsc|nvme)$/;

/**
 * A log that stops before any give-up line (trimmed, or read while the initramfs still waits) but
 * shows the initramfs failing to load the disk driver itself, with no disk and no root mount after:
 * the root cannot appear. Evidence, not a failure: the log has not shown the boot stop.
 */
function frontendMissingAlone(ctx: Context): Cause[] {
  const line = ctx.driverMissing.find((m) => BLOCK_FRONTEND_MODULE.test(m.captures.module ?? ''));
  if (!line || ctx.blkfront || ctx.disks.size > 0 || ctx.rootMountedAt !== undefined) return [];
  return [
    {
      code: 'UVKE',
      paperFault: PAPER_FAULT.UVKE,
      title: TITLE.UVKE,
      confidence: 0.4,
      evidence: [
        {
          source: 'console',
          detail: 'the disk driver could not be loaded, and no disk or root mount followed',
          value: line.line,
        },
      ],
      remedy: REMEDY.UVKE,
    },
  ];
}

/** The VG of /dev/VG/LV or /dev/mapper/VG-LV (dashes in names are doubled by device-mapper). */
function lvmVgOf(name: string): string | undefined {
  const mapper = /^\/dev\/mapper\/((?:[^-]|--)+)-(?:[^-]|--)+$/.exec(name);
  if (mapper?.[1]) return mapper[1].replace(/--/g, '-');
  const plain = /^\/dev\/([^/]+)\/[^/]+$/.exec(name);
  if (plain?.[1] && !['mapper', 'disk', 'md'].includes(plain[1])) return plain[1];
  return undefined;
}

/**
 * Causes for the give-up lines in `matches` (those whose rule has cue device-missing), weighed by
 * the whole log; [] when there are none.
 */
export function weighMissingDevice(
  matches: ConsoleMatch[],
  severityOf: (m: ConsoleMatch) => string,
): Cause[] {
  const ctx = readContext(matches);
  const missing: Missing[] = [];
  let firstAt = -1;
  matches.forEach((m, i) => {
    if (m.cue !== 'device-missing') return;
    const vg = m.captures.vg;
    // lvm2 prints `Volume group "X" not found` on every scan before a LUKS container that holds
    // the VG is unlocked (MESSAGES.md L1): benign when the passphrase prompt follows.
    if (vg !== undefined && ctx.luksPromptAt !== undefined && ctx.luksPromptAt > i) return;
    if (firstAt < 0) firstAt = i;
    // The panic names a device number (unknown-block(0,0)), not a name.
    const raw = m.captures.device?.startsWith('unknown-block') ? undefined : m.captures.device;
    // systemd waits for every device a unit needs, not only disks: a serial console's getty
    // (dev-ttyS0.device), a network interface (sys-subsystem-net-devices-eth0.device).
    if (raw && !isStorageName(normaliseDeviceName(raw))) return;
    missing.push({ match: m, ...(raw ? { device: classifyDeviceName(raw) } : {}), ...(vg ? { vg } : {}) });
  });
  if (missing.length === 0) return frontendMissingAlone(ctx);
  const { weights, why } = weigh(missing, ctx, firstAt);
  // A give-up line that is not fatal (a timeout the boot may survive) says less.
  // Fatal when a give-up line is, or when the boot stops after it (mkinitcpio's emergency shell).
  const fatal = matches.some((m, i) => i >= firstAt && severityOf(m) === 'fatal');
  const scale = fatal ? 1 : 0.8;
  const evidence = missing
    .filter((m, i, all) => all.findIndex((o) => o.match.line === m.match.line) === i)
    .slice(0, 8)
    .map((m) => ({
      source: 'console' as const,
      at: m.match.at,
      detail: `rule ${m.match.ruleId}`,
      value: m.match.line,
    }));
  // What the whole log says, shared by every family it leaves open: the reading, then the lines.
  const reading = { source: 'console' as const, detail: 'the root device was not found', value: why };
  const causes: Cause[] = [];
  for (const [family, w] of Object.entries(weights) as [keyof Weights, number][]) {
    const code: CauseCode = family;
    causes.push({
      code,
      paperFault: PAPER_FAULT[code],
      title: TITLE[family],
      confidence: Math.round(w * scale * 100) / 100,
      evidence: [reading, ...evidence],
      ...(REMEDY[family] ? { remedy: REMEDY[family] } : {}),
    });
  }
  return causes;
}

const TITLE: Record<keyof Weights, string> = {
  VMCE: 'the VM config does not give the VM the device its root= or fstab names (or names it wrong)',
  UVKE: 'the guest kernel or initramfs cannot see the disk (a missing driver)',
  DIDF: 'the disk is there but the partition or filesystem the name needs is damaged or gone',
  UVDE: "the disk's backing storage is empty or missing",
};

const REMEDY: Partial<Record<keyof Weights, string>> = {
  VMCE: 'compare root= (and fstab) with the disks the VM has (ls /dev in the initramfs shell; blkid); fix the name or the disk line',
  UVKE: 'rebuild the initramfs with the disk drivers of this hypervisor (xen-blkfront, virtio_blk, hv_storvsc, nvme), or boot the previous kernel',
  DIDF: 'inspect the disk image from dom0 (fdisk -l, blkid, e2fsck -n / xfs_repair -n)',
  UVDE: "check the disk's backing file, LV or device in dom0 (size, existence)",
};
