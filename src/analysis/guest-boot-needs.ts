import { type FstabEntry, type GrubEntry, grubPathInFs } from '../disk/guest-boot-files.js';
/**
 * What the guest's boot needs beyond its root filesystem, from the guest's own
 * files (src/disk/guest-boot-files.ts): the filesystems systemd must mount
 * before it reaches local-fs.target, and the kernel pygrub must find. Each is
 * judged against the disks the VM's config gives it, so that a fstab naming a
 * UUID no disk has, a damaged data disk the boot mounts, or a grub entry naming a
 * missing kernel is decided from dom0 at creation instead of after systemd's
 * 90 s device timeout.
 */
import type { FilesystemInfo } from '../disk/inspector.js';
import type { PvBootloader } from '../kernel/pv-bootloader.js';
import type { DiskReport } from '../monitor/virtual-disk-information-inspector.js';
import { xlString } from '../xl/config.js';
import type { VmSpec } from '../xl/vm-spec.js';
import type { Cause, Evidence } from './evidence.js';
import { PAPER_FAULT } from './evidence.js';

/** A filesystem of the VM, where it is. */
export interface VmFilesystem {
  vdev: string;
  device?: number;
  /** The partition number; undefined for a filesystem on the whole disk. */
  partition?: number;
  partUuid?: string;
  fs: FilesystemInfo;
  /** The worst the inspector found about this filesystem (its findings, or the mount model's verdict). */
  mount?: FilesystemInfo['mount'];
  /** The disk's backing file or device, and where on it the filesystem starts. */
  target?: string;
  offsetBytes: number;
}

/** The kernel and initrd pygrub will boot, where they are in the image, for the kernel check. */
export interface GrubBoot {
  /** What boots it: pygrub hands it to libxc in dom0; pvgrub loads it itself, in the guest. */
  reader: 'pygrub' | 'pvgrub';
  target: string;
  /** "xvda1": the filesystem they are in. */
  where: string;
  offsetBytes: number;
  /** Paths relative to that filesystem's root. */
  kernel: string;
  initrd?: string;
}

export interface BootNeed {
  /** What needs it: "root", "/data" (an fstab mount point), "pygrub" or "pvgrub" (the boot loader). */
  neededFor: string;
  cause: Cause;
  /** The boot fails for certain: decide the try at creation. */
  certain: boolean;
}

export interface GuestBootNeeds {
  /** Where the root filesystem root= (or the grub entry's root=) names is. */
  root?: { vdev: string; partition?: number };
  /** Disks (vdev) the boot cannot do without: the root's and every required fstab mount's. */
  neededDisks: string[];
  /** What will stop the boot, or may. */
  problems: BootNeed[];
  /** The kernel pygrub will boot, from the grub config's default entry. */
  grubKernel?: string;
  /** Where that kernel and its initrd are, when both exist. */
  grubBoot?: GrubBoot;
}

function filesystemsOf(disks: DiskReport[]): VmFilesystem[] {
  const out: VmFilesystem[] = [];
  for (const { disk, inspection } of disks) {
    if (!inspection) continue;
    const base = {
      vdev: disk.vdev,
      ...(disk.device !== undefined ? { device: disk.device } : {}),
      ...(disk.target !== undefined ? { target: disk.target } : {}),
    };
    const mountOf = (fs: FilesystemInfo, partition: number | undefined) => {
      const severities = inspection.findings
        .filter((f) => f.partition === partition || f.partition === undefined)
        .map((f) => f.severity);
      const worst = (['will-not-mount', 'read-only'] as const).find((s) => severities.includes(s));
      return worst ?? fs.mount;
    };
    for (const p of inspection.partitions) {
      const mount = mountOf(p.filesystem, p.number);
      out.push({
        ...base,
        offsetBytes: p.startSector * inspection.sectorSize,
        partition: p.number,
        ...(p.partUuid ? { partUuid: p.partUuid } : {}),
        fs: p.filesystem,
        ...(mount ? { mount } : {}),
      });
    }
    if (inspection.wholeDisk) {
      const mount = mountOf(inspection.wholeDisk, undefined);
      out.push({ ...base, offsetBytes: 0, fs: inspection.wholeDisk, ...(mount ? { mount } : {}) });
    }
  }
  return out;
}

// Types whose identity (UUID, LABEL) libblkid reads: a tag not found among them is on no disk.
// Anything else on a disk (an LVM PV, LUKS, md member, an unknown signature) may hold the tag
// inside it, so a missing tag is then only a suspicion.
const TRANSPARENT_TYPES = new Set(['ext2', 'ext3', 'ext4', 'ext', 'xfs', 'btrfs', 'vfat', 'swap', 'jbd']);

function isOpaque(disks: DiskReport[]): boolean {
  return disks.some(
    (d) =>
      !d.inspection ||
      // Nothing readable on it (an unattached loop device, a wiped table): the tag may be there.
      d.inspection.loop?.attached === false ||
      filesystemsOf([d]).length === 0 ||
      filesystemsOf([d]).some(
        (f) =>
          (f.fs.type !== null && !TRANSPARENT_TYPES.has(f.fs.type)) ||
          // A partition whose signature is gone may be the very filesystem fstab names.
          (f.fs.type === null &&
            f.fs.uuid === undefined &&
            f.fs.ext?.uuid === undefined &&
            f.partition !== undefined),
      ),
  );
}

type Lookup = { kind: 'tag'; tag: string; value: string } | { kind: 'xvd'; disk: string; partition?: number };

/** How Linux names a device in fstab or root=: a tag (blkid, /dev/disk/by-*) or a blkfront name. */
export function deviceLookup(spec: string): Lookup | undefined {
  const tag = /^(UUID|LABEL|PARTUUID|PARTLABEL)=(.+)$/.exec(spec);
  if (tag) return { kind: 'tag', tag: tag[1] as string, value: (tag[2] as string).replace(/^"(.*)"$/, '$1') };
  const byPath = /^\/dev\/disk\/by-(uuid|label|partuuid|partlabel)\/(.+)$/.exec(spec);
  if (byPath) return { kind: 'tag', tag: (byPath[1] as string).toUpperCase(), value: byPath[2] as string };
  const xvd = /^\/dev\/(xvd[a-z]+)(\d*)$/.exec(spec);
  if (xvd) return { kind: 'xvd', disk: xvd[1] as string, ...(xvd[2] ? { partition: Number(xvd[2]) } : {}) };
  return undefined;
}

function findFilesystem(all: VmFilesystem[], lookup: Lookup): VmFilesystem | undefined {
  if (lookup.kind === 'xvd')
    return all.find((f) => f.vdev === lookup.disk && f.partition === lookup.partition);
  const v = lookup.value.toLowerCase();
  return all.find((f) => {
    switch (lookup.tag) {
      case 'UUID':
        // A primary superblock wiped: its backup still names the filesystem.
        return (f.fs.uuid ?? f.fs.ext?.uuid)?.toLowerCase() === v;
      case 'LABEL':
        return f.fs.label === lookup.value;
      case 'PARTUUID':
        return f.partUuid?.toLowerCase() === v;
      default:
        return false; // PARTLABEL: not read from the tables here
    }
  });
}

// systemd-fstab-generator (src/fstab-generator/fstab-generator.c, v252): a mount without
// noauto/nofail is RequiredBy local-fs.target (remote-fs.target for _netdev and network
// filesystems), and local-fs.target has OnFailure=emergency.target. Swap goes to swap.target,
// which nothing requires. "/" is mounted by the initramfs from root=, not from this line.
const NETWORK_FS = /^(nfs4?|cifs|smb3|smbfs|ncpfs|ceph|glusterfs|9p|virtiofs|sshfs|fuse\..*|davfs)$/;
const PSEUDO_FS =
  /^(proc|sysfs|tmpfs|devpts|devtmpfs|cgroup2?|securityfs|debugfs|hugetlbfs|mqueue|none|bind|efivarfs|overlay|ramfs)$/;

function systemdRequires(e: FstabEntry): boolean {
  if (e.file === '/' || e.vfstype === 'swap' || e.file === 'none' || e.file === 'swap') return false;
  if (
    e.options.some(
      (o) => o === 'noauto' || o === 'nofail' || o === '_netdev' || o === 'bind' || o === 'rbind',
    )
  )
    return false;
  return !NETWORK_FS.test(e.vfstype) && !PSEUDO_FS.test(e.vfstype);
}

function where(f: VmFilesystem): string {
  return f.partition === undefined ? f.vdev : `${f.vdev}${f.partition}`;
}

function filesystemList(all: VmFilesystem[]): Evidence {
  return {
    source: 'inspector',
    detail: 'the filesystems on the disks of the VM',
    value:
      all
        .filter((f) => f.fs.type)
        .map(
          (f) =>
            `${where(f)}:${f.fs.type}${(f.fs.uuid ?? f.fs.ext?.uuid) ? ` UUID=${f.fs.uuid ?? f.fs.ext?.uuid}` : ''}`,
        )
        .join(', ') || 'none',
  };
}

function deviceTimeout(e: FstabEntry): string {
  const t = e.options.find((o) => o.startsWith('x-systemd.device-timeout='));
  return t ? t.slice('x-systemd.device-timeout='.length) : '90 s';
}

/** The root filesystem root= names, resolved to a disk of the VM. */
function rootFilesystem(rootDevice: string | undefined, all: VmFilesystem[]): VmFilesystem | undefined {
  const lookup = rootDevice ? deviceLookup(rootDevice) : undefined;
  return lookup ? findFilesystem(all, lookup) : undefined;
}

/** The grub entry pygrub boots: the default one (undefined when `set default=` names a title). */
function grubEntry(fs: FilesystemInfo | undefined): { entry?: GrubEntry; all: GrubEntry[] } | undefined {
  const grub = fs?.boot?.grub;
  if (!grub || grub.entries.length === 0) return undefined;
  return {
    ...(grub.defaultEntry !== undefined ? { entry: grub.entries[grub.defaultEntry] } : {}),
    all: grub.entries,
  };
}

/**
 * pygrub reads the first disk of the config and, partition by partition, the
 * first filesystem with a grub config (tools/pygrub/src/pygrub: the loop over
 * get_partition_offsets breaks at the first config that names a kernel).
 */
function pygrubFilesystem(spec: VmSpec, disks: DiskReport[]): VmFilesystem | undefined {
  const first = disks.find((d) => d.disk.vdev === spec.disks[0]?.vdev);
  if (!first) return undefined;
  return filesystemsOf([first]).find((f) => (f.fs.boot?.grub?.entries.length ?? 0) > 0);
}

/**
 * pvgrub2 (Debian's grub-xen-host image) runs in the guest: its embedded config searches every disk
 * for /boot/grub/grub.cfg, then for /grub/grub.cfg (`search -s -f`, debian/grub-xen-host_grub.cfg of
 * grub2 2.06-13), and reads the first it finds. GRUB's disks are in the order of the config's.
 */
function pvgrubFilesystem(disks: DiskReport[]): VmFilesystem | undefined {
  const all = filesystemsOf(disks).filter((f) => (f.fs.boot?.grub?.entries.length ?? 0) > 0);
  // Another build's embedded config may look elsewhere (/boot/grub2/ on openSUSE and Fedora): the
  // first config in pygrub's order stands for it.
  return (
    all.find((f) => f.fs.boot?.grub?.file === 'boot/grub/grub.cfg') ??
    all.find((f) => f.fs.boot?.grub?.file === 'grub/grub.cfg') ??
    all[0]
  );
}

export interface GuestBootOptions {
  /** The config's kernel = is a PV boot loader that reads the guest's grub.cfg (src/kernel/pv-bootloader.ts). */
  pvBootloader?: PvBootloader;
}

function rootArgOf(args: string | undefined): string | undefined {
  return args
    ?.split(/\s+/)
    .find((a) => a.startsWith('root='))
    ?.slice('root='.length);
}

export function guestBootNeeds(
  spec: VmSpec,
  disks: DiskReport[],
  options: GuestBootOptions = {},
): GuestBootNeeds {
  const all = filesystemsOf(disks);
  const problems: BootNeed[] = [];
  const needs: GuestBootNeeds = { neededDisks: [], problems };
  const need = (vdev: string) => {
    if (!needs.neededDisks.includes(vdev)) needs.neededDisks.push(vdev);
  };
  let rootDevice = spec.rootDevice;
  let rootFrom = 'root device';

  // What reads the guest's grub.cfg: pygrub in dom0, or pvgrub2 as the guest's kernel =.
  const reader =
    spec.bootloader && /pygrub$/.test(spec.bootloader) && !spec.kernel
      ? 'pygrub'
      : options.pvBootloader === 'pvgrub' && spec.kernel
        ? 'pvgrub'
        : undefined;
  if (reader) {
    const at = reader === 'pygrub' ? pygrubFilesystem(spec, disks) : pvgrubFilesystem(disks);
    const chosen = grubEntry(at?.fs);
    if (at && chosen) {
      const grub = at.fs.boot?.grub;
      const candidates = chosen.entry ? [chosen.entry] : chosen.all;
      const missing = candidates.filter((e) => e.kernelFound === false || e.initrdFound === false);
      if (chosen.entry?.kernel) needs.grubKernel = chosen.entry.kernel;
      const kernel = chosen.entry?.kernel ? grubPathInFs(chosen.entry.kernel) : undefined;
      const initrd = chosen.entry?.initrd ? grubPathInFs(chosen.entry.initrd) : undefined;
      if (at.target && kernel && chosen.entry?.kernelFound && chosen.entry.initrdFound !== false)
        needs.grubBoot = {
          reader,
          target: at.target,
          where: where(at),
          offsetBytes: at.offsetBytes,
          kernel,
          ...(initrd ? { initrd } : {}),
        };
      const grubRoot = rootArgOf(chosen.entry?.args);
      if (!rootDevice && grubRoot) {
        rootDevice = grubRoot;
        rootFrom = `root= of the grub entry ${reader} boots`;
      }
      if (missing.length === candidates.length && missing[0]) {
        const e = missing[0];
        const what = e.kernelFound === false ? `kernel ${e.kernel}` : `initrd ${e.initrd}`;
        problems.push({
          neededFor: reader,
          certain: true,
          cause: {
            code: 'UVKE',
            paperFault: PAPER_FAULT.UVKE,
            title:
              reader === 'pygrub'
                ? `pygrub will fail: the grub entry "${e.title}" boots ${what}, which is not in ${where(at)}`
                : `GRUB (pvgrub, the config's kernel =) will stop in the guest: the grub entry "${e.title}" boots ${what}, which is not in ${where(at)}`,
            confidence: 0.9,
            disk: at.vdev,
            evidence: [
              {
                source: 'inspector',
                detail: `${grub?.file} on ${where(at)}`,
                value: `menuentry "${e.title}"`,
              },
              { source: 'inspector', detail: `the ${what} is missing from the filesystem`, value: what },
            ],
            remedy: `point the entry in /${grub?.file} of ${where(at)} at a kernel and initrd that exist (or reinstall the kernel package in the image)`,
          },
        });
      }
    }
  }

  const opaque = isOpaque(disks);
  // GRUB in the guest with no grub config on any disk stops at its own prompt ("grub> "); only
  // when every disk was read through (GRUB also reads LVM, xfs, btrfs, which vmbootfail does not).
  if (reader === 'pvgrub' && !opaque && !all.some((f) => f.fs.boot?.grub) && disks.length > 0)
    problems.push({
      neededFor: 'pvgrub',
      certain: true,
      cause: {
        code: 'DIDF',
        paperFault: PAPER_FAULT.DIDF,
        title:
          "GRUB (pvgrub, the config's kernel =) will stop at its prompt: no disk of the VM has a grub config (/boot/grub/grub.cfg, /grub/grub.cfg)",
        confidence: 0.85,
        evidence: [filesystemList(all)],
        remedy:
          "give the VM the disk that holds its /boot (the disk = [...] line), or install GRUB's config in the image (update-grub in the guest)",
      },
    });
  const root = rootFilesystem(rootDevice, all);
  if (root) {
    needs.root = { vdev: root.vdev, ...(root.partition !== undefined ? { partition: root.partition } : {}) };
    need(root.vdev);
  }
  // root=/dev/xvd... is judged by the preflight's root checks; a tag (root=UUID=...) here.
  const rootLookup = rootDevice ? deviceLookup(rootDevice) : undefined;
  if (rootDevice && rootLookup?.kind === 'tag') {
    const rootArg: Evidence = {
      source: rootFrom === 'root device' ? 'config' : 'inspector',
      detail: rootFrom,
      value: `root=${rootDevice}`,
    };
    // An empty disk (an unattached loop device, a 0-byte image) holds no filesystem: when it is
    // all that cannot be read, the root is certainly missing, and the empty disk is why.
    const empty = disks.filter(
      (d) => d.inspection?.loop?.attached === false || d.error?.code === 'ERR_DISK_EMPTY',
    );
    const othersReadable = !isOpaque(disks.filter((d) => !empty.includes(d)));
    if (!root && empty.length > 0 && othersReadable) {
      const first = empty[0] as DiskReport;
      problems.push({
        neededFor: 'root',
        certain: true,
        cause: {
          code: 'UVDE',
          paperFault: PAPER_FAULT.UVDE,
          title: `root=${rootDevice} is on no disk the VM can read: ${first.disk.vdev} (${first.disk.target ?? '?'}) is empty`,
          confidence: 0.8,
          disk: first.disk.vdev,
          evidence: [rootArg, filesystemList(all)],
        },
      });
    } else if (!root && !opaque && all.length > 0) {
      problems.push({
        neededFor: 'root',
        certain: true,
        cause: {
          code: 'VMCE',
          paperFault: PAPER_FAULT.VMCE,
          title: `root=${rootDevice} names a filesystem no disk of the VM has: the initramfs will wait for it and give up`,
          confidence: 0.85,
          evidence: [rootArg, filesystemList(all)],
          remedy: `set root= to the root filesystem's UUID (one of those listed) in ${xlString(spec.configPath)} or the guest's grub config`,
        },
      });
    } else if (root?.mount === 'will-not-mount') {
      problems.push({
        neededFor: 'root',
        certain: true,
        cause: {
          code: 'DIDF',
          paperFault: PAPER_FAULT.DIDF,
          title: `the root filesystem ${rootDevice} (${where(root)}) will not mount`,
          confidence: 0.85,
          disk: root.vdev,
          evidence: [
            rootArg,
            { source: 'inspector', detail: `${where(root)}: will-not-mount`, value: root.fs.type ?? 'ext' },
          ],
          remedy: `repair ${where(root)} (see its findings)`,
        },
      });
    }
  }
  const fstab = root?.fs.boot?.fstab;
  if (!root || !fstab || root.fs.boot?.init !== 'systemd') return needs;

  for (const e of fstab.entries) {
    if (!systemdRequires(e)) continue;
    const lookup = deviceLookup(e.spec);
    if (!lookup) continue; // LVM, md, a path this tool cannot resolve: not judged
    const found = findFilesystem(all, lookup);
    const fstabLine: Evidence = {
      source: 'inspector',
      detail: `/etc/fstab line ${e.line} on ${where(root)} (systemd mounts it at boot: no nofail)`,
      value: `${e.spec} ${e.file} ${e.vfstype} ${e.options.join(',')}`,
    };
    if (!found) {
      // An xvd name is certain from the config alone; a tag only when every disk was read through.
      const xvdMissing = lookup.kind === 'xvd' && !spec.disks.some((d) => d.vdev === lookup.disk);
      const certain = lookup.kind === 'xvd' ? xvdMissing : !opaque;
      if (lookup.kind === 'xvd' && !xvdMissing) continue; // the disk is there; its partition is judged below
      problems.push({
        neededFor: e.file,
        certain,
        cause: {
          code: 'VMCE',
          paperFault: PAPER_FAULT.VMCE,
          title: `the guest's /etc/fstab mounts ${e.spec} at ${e.file}, but no disk of the VM has it: systemd waits ${deviceTimeout(e)} for it, then enters emergency mode`,
          confidence: certain ? 0.85 : 0.55,
          evidence: [fstabLine, filesystemList(all)],
          remedy: `add the disk holding ${e.spec} to disk = [...] in ${xlString(spec.configPath)}, or add nofail to line ${e.line} of the guest's /etc/fstab`,
        },
      });
      continue;
    }
    need(found.vdev);
    if (found.mount === 'will-not-mount' || (found.mount === 'read-only' && !e.options.includes('ro'))) {
      problems.push({
        neededFor: e.file,
        certain: true,
        cause: {
          code: 'DIDF',
          paperFault: PAPER_FAULT.DIDF,
          title: `${where(found)}, mounted at ${e.file} by the guest's fstab, will not mount: systemd enters emergency mode`,
          confidence: 0.85,
          disk: found.vdev,
          evidence: [
            fstabLine,
            {
              source: 'inspector',
              detail: `${where(found)}: ${found.mount}`,
              value: found.fs.type ?? 'no filesystem',
            },
          ],
          remedy: `repair ${where(found)} (see its findings), or add nofail to line ${e.line} of the guest's /etc/fstab`,
        },
      });
    }
  }
  return needs;
}
