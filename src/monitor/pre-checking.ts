import { type Cause, PAPER_FAULT } from '../analysis/evidence.js';
import { commentedOutDiskEvidence, missingDiskRemedy } from '../analysis/missing-disk.js';
/**
 * Pre-Checking (paper module 2): the environment and the VM before any boot.
 * Refuses to test over an existing domain, and predicts faults from the
 * config, the disks and the kernel in milliseconds, without booting.
 */
import { analyseVirtualDisks } from '../analysis/virtual-disk-analysis.js';
import type { DiskInspection } from '../disk/inspector.js';
import type { VmSpec } from '../engine/vm-spec.js';
import { expectsRootDisk } from '../engine/vm-spec.js';
import { type DiskReport, inspectVmDisks } from './virtual-disk-information-inspector.js';

/** A kernel check result, as far as the engine needs it (see src/analysis/kernel/). */
export interface KernelCheck {
  verdict: 'suitable' | 'unsuitable' | 'unknown';
  problems: { code: string; message: string; remedy?: string; evidence?: Record<string, string> }[];
}

export interface PreflightDeps {
  inspectDisk(path: string): Promise<DiskInspection>;
  checkKernel?(spec: VmSpec, rootFsType: string | null): Promise<KernelCheck | undefined>;
}

export interface PreflightResult {
  disks: DiskReport[];
  kernel?: KernelCheck;
  causes: Cause[];
  elapsedMs: number;
}

function rootFsType(spec: VmSpec, disks: DiskReport[]): string | null {
  for (const { inspection } of disks) {
    if (!inspection) continue;
    const part = inspection.partitions.find((p) => p.filesystem.type);
    const type = part?.filesystem.type ?? inspection.wholeDisk?.type;
    if (type) return type;
    if (part?.filesystem.ext || inspection.wholeDisk?.ext) return 'ext4';
  }
  return spec.disks.length > 0 ? null : null;
}

export async function preflight(spec: VmSpec, deps: PreflightDeps): Promise<PreflightResult> {
  const started = performance.now();
  const disks = await inspectVmDisks(spec.disks, deps.inspectDisk);
  const causes = analyseVirtualDisks(disks);

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

  let kernel: KernelCheck | undefined;
  if (deps.checkKernel && spec.kernel) {
    kernel = await deps.checkKernel(spec, rootFsType(spec, disks));
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
  return { disks, ...(kernel ? { kernel } : {}), causes, elapsedMs: performance.now() - started };
}
