import { type Cause, type Evidence, PAPER_FAULT } from '../analysis/evidence.js';
/**
 * Pre-Checking (paper module 2): the environment and the VM before any boot.
 * Refuses to test over an existing domain, and predicts faults from the
 * config, the disks and the kernel in milliseconds, without booting.
 */
import { type GrubBoot, type GuestBootNeeds, guestBootNeeds } from '../analysis/guest-boot-needs.js';
import { commentedOutDiskEvidence, missingDiskRemedy } from '../analysis/missing-disk.js';
import { analyseVirtualDisks } from '../analysis/virtual-disk-analysis.js';
import type { DiskInspection, InspectOptions } from '../disk/inspector.js';
import { ErrorCode } from '../errors.js';
import { versionFromKernelFileName } from '../kernel/kernel-config.js';
import type { PvBootloader } from '../kernel/pv-bootloader.js';
import { shellQuote } from '../util/shell-quote.js';
import type { VmSpec } from '../xl/vm-spec.js';
import { expectsRootDisk, hasBootSource } from '../xl/vm-spec.js';
import { type DiskReport, guestKernelOf, inspectVmDisks } from './virtual-disk-information-inspector.js';

/** A kernel check result, as far as the engine needs it (see src/kernel/). */
export interface KernelCheck {
  verdict: 'suitable' | 'unsuitable' | 'unknown';
  problems: { code: string; message: string; remedy?: string; evidence?: Record<string, string> }[];
}

export interface PreflightDeps {
  inspectDisk(path: string, options?: InspectOptions): Promise<DiskInspection>;
  /** `fromImage`: the kernel pygrub would boot from the guest's disk, when there is no kernel =. */
  checkKernel?(
    spec: VmSpec,
    rootFsType: string | null,
    fromImage?: GrubBoot,
  ): Promise<KernelCheck | undefined>;
  /**
   * Called once the disks and the config are judged, before the kernel check (seconds on a slow
   * dom0: it decompresses the kernel and the ramdisk), with what is known so far.
   */
  onDisksJudged?(partial: PreflightResult): void;
  /** Whether kernel = is a PV boot loader (pvgrub2) rather than Linux: src/kernel/pv-bootloader.ts. */
  pvBootloaderOf?(kernelPath: string): Promise<PvBootloader | undefined>;
}

export interface PreflightResult {
  disks: DiskReport[];
  /** What the guest's own files (fstab, grub config) say its boot needs, judged against the disks. */
  bootNeeds?: GuestBootNeeds;
  kernel?: KernelCheck;
  /** kernel = is this boot loader, and the kernel judged is the one its grub.cfg boots. */
  pvBootloader?: PvBootloader;
  causes: Cause[];
  elapsedMs: number;
}

function rootFsType(disks: DiskReport[]): string | null {
  for (const { inspection } of disks) {
    if (!inspection) continue;
    const part = inspection.partitions.find((p) => p.filesystem.type);
    const type = part?.filesystem.type ?? inspection.wholeDisk?.type;
    if (type) return type;
    if (part?.filesystem.ext || inspection.wholeDisk?.ext) return 'ext4';
  }
  return null;
}

export async function preflight(spec: VmSpec, deps: PreflightDeps): Promise<PreflightResult> {
  const started = performance.now();
  const inspect = (p: string, o?: InspectOptions) => deps.inspectDisk(p, { ...o, bootFiles: true });
  const pvBootloader = spec.kernel ? await deps.pvBootloaderOf?.(spec.kernel) : undefined;
  const bootOptions = pvBootloader ? { pvBootloader } : {};
  // The kernel = of a pvgrub VM is GRUB, not the guest's kernel: the filesystems are judged by the
  // kernel its grub.cfg boots, as for pygrub.
  let disks = await inspectVmDisks(spec.disks, inspect, pvBootloader ? undefined : guestKernelOf(spec));
  let bootNeeds = guestBootNeeds(spec, disks, bootOptions);
  // pygrub (or pvgrub) boots a kernel from the image: its release judges the filesystems' features.
  // (guestBootNeeds names a grub kernel only when one of them reads the guest's grub.cfg.)
  const grubKernel = bootNeeds.grubKernel ? versionFromKernelFileName(bootNeeds.grubKernel) : undefined;
  if (grubKernel) {
    disks = await inspectVmDisks(spec.disks, inspect, grubKernel);
    bootNeeds = guestBootNeeds(spec, disks, bootOptions);
  }
  const causes = analyseVirtualDisks(disks);
  causes.push(...bootNeeds.problems.map((p) => p.cause));

  if (spec.disks.length === 0 && expectsRootDisk(spec)) {
    causes.push({
      code: 'VMCE',
      paperFault: PAPER_FAULT.VMCE,
      title: 'the VM configuration declares no disk, but the kernel is told to mount one',
      confidence: spec.commentedOutDisk ? 0.8 : 0.7,
      evidence: [
        { source: 'config', detail: 'no disk = [...] entry', value: spec.configPath },
        ...(spec.rootDevice
          ? [{ source: 'config' as const, detail: 'root device', value: spec.rootDevice }]
          : []),
        ...commentedOutDiskEvidence(spec),
      ],
      remedy: missingDiskRemedy(spec),
    });
  }

  if (!hasBootSource(spec)) {
    causes.push({
      code: 'VMCE',
      paperFault: PAPER_FAULT.VMCE,
      title: `the configuration names nothing to boot: no kernel =, bootloader = or firmware = for a ${spec.type ?? 'pv'} guest`,
      confidence: 0.9,
      evidence: [
        { source: 'config', detail: 'no kernel, bootloader or firmware setting', value: spec.configPath },
      ],
      remedy: `add kernel = "/boot/vmlinuz-..." (with ramdisk =) or bootloader = "pygrub" to ${spec.configPath}`,
    });
  }
  const absent = rootDiskAbsent(spec);
  if (absent) causes.push({ ...absent, confidence: 0.9 });
  const rootMatch = spec.rootDevice ? XEN_ROOT.exec(spec.rootDevice) : null;
  if (rootMatch && spec.rootDevice) {
    const [, diskName, part] = rootMatch;
    const inspection = disks.find((d) => d.disk.vdev === diskName)?.inspection;
    const mismatch =
      inspection &&
      rootPartitionMismatch(spec.rootDevice, diskName ?? '', part ? Number(part) : undefined, inspection);
    if (mismatch) {
      causes.push({
        code: 'VMCE',
        paperFault: PAPER_FAULT.VMCE,
        title: mismatch.title,
        confidence: 0.8,
        ...(diskName ? { disk: diskName } : {}),
        evidence: mismatch.evidence,
        remedy: mismatch.remedy,
      });
    }
  }

  deps.onDisksJudged?.({ disks, bootNeeds, causes: [...causes], elapsedMs: performance.now() - started });
  let kernel: KernelCheck | undefined;
  // A pvgrub image is checked through the kernel its grub.cfg boots, or not at all.
  const fromImage = bootNeeds.grubBoot;
  if (deps.checkKernel && (fromImage || (spec.kernel && !pvBootloader))) {
    kernel = await deps.checkKernel(spec, rootFsType(disks), fromImage);
    for (const p of kernel?.problems ?? []) {
      causes.push({
        code: 'UVKE',
        paperFault: PAPER_FAULT.UVKE,
        title: p.message,
        confidence: 0.75,
        evidence: [
          {
            source: 'kernel',
            detail: p.code,
            value: Object.entries(p.evidence ?? {})
              .map(([k, v]) => `${k}=${v}`)
              .join(' '),
          },
        ],
        ...(p.remedy ? { remedy: p.remedy } : {}),
      });
    }
  }
  return {
    disks,
    bootNeeds,
    ...(kernel ? { kernel } : {}),
    ...(pvBootloader ? { pvBootloader } : {}),
    causes,
    elapsedMs: performance.now() - started,
  };
}

/** A fact known before boot that makes the boot fail for certain, and so decides a try at once. */
export interface CertainFailure {
  reason: string;
  evidence: Evidence[];
}

const XEN_ROOT = /^\/dev\/((?:xvd|sd|hd|vd)[a-z]+)(\d*)$/;
// Kernel findings that no ramdisk or retry can work around.
const CERTAIN_KERNEL_PROBLEMS = new Set([
  'BLOCK_FRONTEND_MISSING',
  'ROOT_FS_DRIVER_MISSING',
  'KERNEL_NOT_LOADABLE_BY_PVGRUB',
]);
const CERTAIN_DISK_ERRORS = new Set<string>([
  ErrorCode.DISK_NOT_FOUND,
  ErrorCode.DISK_EMPTY,
  ErrorCode.DISK_IS_DIRECTORY,
  ErrorCode.DISK_NOT_BLOCK_OR_FILE,
]);

/**
 * What the preflight proved about what the boot needs: the root disk, its
 * partition and filesystem, the kernel and its ramdisk. A damaged disk the boot
 * does not need is a finding, never a failure. Decided only on facts, so the
 * same preflight gives the same answer however fast the boot goes.
 */
export function certainFailureOf(spec: VmSpec, pre: PreflightResult): CertainFailure | undefined {
  // In the order the boot meets them: pygrub in dom0, the kernel and root, then systemd's fstab mounts.
  const certain = pre.bootNeeds?.problems.filter((p) => p.certain) ?? [];
  const asFailure = (p: (typeof certain)[number]) => ({ reason: p.cause.title, evidence: p.cause.evidence });
  const bootloader = certain.find((p) => p.neededFor === 'pygrub' || p.neededFor === 'pvgrub');
  if (bootloader) return asFailure(bootloader);
  const root = rootFailureOf(spec, pre) ?? certain.find((p) => p.neededFor === 'root');
  if (root) return 'cause' in root ? asFailure(root) : root;
  const mount = certain.find(
    (p) => p.neededFor !== 'pygrub' && p.neededFor !== 'pvgrub' && p.neededFor !== 'root',
  );
  return mount ? asFailure(mount) : undefined;
}

/** root= names an xvd disk the config does not declare: xen-blkfront names a PV disk after its vdev, so a
 * config of xvd* disks only cannot give the guest that name. */
function rootDiskAbsent(spec: VmSpec): Omit<Cause, 'confidence'> | undefined {
  const root = spec.rootDevice ? XEN_ROOT.exec(spec.rootDevice) : null;
  const diskName = root?.[1];
  if (!spec.rootDevice || !diskName?.startsWith('xvd') || spec.disks.some((d) => d.vdev === diskName))
    return undefined;
  if (spec.disks.length === 0 || !spec.disks.every((d) => d.vdev.startsWith('xvd'))) return undefined;
  const declared = spec.disks.map((d) => d.vdev).join(', ');
  return {
    code: 'VMCE',
    paperFault: PAPER_FAULT.VMCE,
    title: `root=${spec.rootDevice} names a disk the VM does not have`,
    evidence: [
      { source: 'config', detail: 'root device', value: spec.rootDevice },
      { source: 'config', detail: 'the disks the config declares', value: declared },
    ],
    remedy: `add ${diskName} to the disk = [...] line of ${shellQuote(spec.configPath)}, or set root= to a disk it has (${declared}) in its extra = "..." line`,
  };
}

function rootFailureOf(spec: VmSpec, pre: PreflightResult): CertainFailure | undefined {
  for (const p of pre.kernel?.problems ?? []) {
    if (CERTAIN_KERNEL_PROBLEMS.has(p.code))
      return { reason: p.message, evidence: [{ source: 'kernel', detail: p.message, value: p.code }] };
  }
  const root = spec.rootDevice ? XEN_ROOT.exec(spec.rootDevice) : null;
  if (!root || !spec.rootDevice) return undefined;
  const [, diskName, part] = root;
  const partition = part ? Number(part) : undefined;
  const report = pre.disks.find((d) => d.disk.vdev === diskName);
  // No disk at all: no VBD, so xen-blkfront has no xvd disk to give the guest.
  if (spec.disks.length === 0 && diskName?.startsWith('xvd'))
    return {
      reason: `the VM configuration declares no disk, but root=${spec.rootDevice} names ${diskName}`,
      evidence: [
        { source: 'config', detail: 'no disk = [...] entry', value: spec.configPath },
        { source: 'config', detail: 'root device', value: spec.rootDevice },
        ...commentedOutDiskEvidence(spec),
      ],
    };
  if (!report) {
    const absent = rootDiskAbsent(spec);
    return absent ? { reason: absent.title, evidence: absent.evidence } : undefined;
  }
  // A target that is missing, empty or not a disk fails the backend; no target at all may be a
  // script-backed disk (iscsi, drbd, ...), which only its hotplug script can judge.
  if (report.error && CERTAIN_DISK_ERRORS.has(report.error.code)) {
    return {
      reason: `the root disk ${diskName} cannot be used: ${report.error.message}`,
      evidence: [{ source: 'inspector', detail: report.error.message, value: report.error.code }],
    };
  }
  const inspection = report.inspection;
  if (!inspection) return undefined;
  const mismatch = rootPartitionMismatch(spec.rootDevice, diskName ?? '', partition, inspection);
  if (mismatch) return { reason: mismatch.title, evidence: mismatch.evidence };
  const blocking = inspection.findings.find(
    (f) =>
      f.severity === 'will-not-mount' &&
      (f.partition === undefined || partition === undefined || f.partition === partition),
  );
  if (!blocking) return undefined;
  return {
    reason: `the root disk ${diskName} will not mount: ${blocking.code}`,
    evidence: [
      { source: 'inspector', detail: blocking.message, value: blocking.code },
      ...(blocking.kernelSays
        ? [
            {
              source: 'inspector' as const,
              detail: 'the guest kernel would print',
              value: blocking.kernelSays,
            },
          ]
        : []),
    ],
  };
}

/**
 * root= names a partition the disk does not have: a whole-disk filesystem
 * mounted as xvda1, or xvda2 on a one-partition disk. The disk is healthy; the
 * config is wrong (VMCE).
 */
export function rootPartitionMismatch(
  rootDevice: string,
  diskName: string,
  partition: number | undefined,
  inspection: DiskInspection,
): { title: string; evidence: Evidence[]; remedy: string } | undefined {
  if (partition === undefined) {
    if (inspection.partitions.length > 0 && !inspection.wholeDisk?.type) {
      const first = inspection.partitions.find((p) => p.filesystem.type)?.number ?? 1;
      return {
        title: `root=${rootDevice} names the whole disk, but ${diskName} holds a partition table`,
        evidence: [
          { source: 'config', detail: 'root device', value: rootDevice },
          {
            source: 'inspector',
            detail: `${diskName} is partitioned (${inspection.label})`,
            value: inspection.partitions.map((p) => `p${p.number}`).join(','),
          },
        ],
        remedy: `set root=/dev/${diskName}${first} in the extra = "..." (or cmdline) line of the config`,
      };
    }
    return undefined;
  }
  const wholeDiskFs = inspection.label === 'loop' && inspection.wholeDisk?.type;
  if (wholeDiskFs) {
    return {
      title: `root=${rootDevice} names partition ${partition}, but ${diskName} has no partition table: it holds a ${inspection.wholeDisk?.type} filesystem on the whole disk`,
      evidence: [
        { source: 'config', detail: 'root device', value: rootDevice },
        {
          source: 'inspector',
          detail: `${diskName} holds a filesystem on the whole disk`,
          value: inspection.wholeDisk?.type ?? '',
        },
      ],
      remedy: `set root=/dev/${diskName} in the extra = "..." (or cmdline) line of the config`,
    };
  }
  const hasTable =
    inspection.label !== 'none' && inspection.label !== 'loop' && inspection.partitions.length > 0;
  if (hasTable && !inspection.partitions.some((p) => p.number === partition)) {
    const numbers = inspection.partitions.filter((p) => p.kind !== 'extended').map((p) => p.number);
    return {
      title: `root=${rootDevice} names partition ${partition}, but ${diskName} has only partition${numbers.length === 1 ? '' : 's'} ${numbers.join(', ')}`,
      evidence: [
        { source: 'config', detail: 'root device', value: rootDevice },
        {
          source: 'inspector',
          detail: `the partitions of ${diskName}`,
          value: numbers.map((n) => `p${n}`).join(','),
        },
      ],
      remedy: `set root=/dev/${diskName}${numbers[0] ?? 1} (the partition holding the root filesystem) in the extra = "..." line of the config`,
    };
  }
  return undefined;
}
