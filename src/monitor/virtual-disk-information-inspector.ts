import type { DiskInspection, InspectOptions } from '../disk/inspector.js';
import { VmbootfailError } from '../errors.js';
/**
 * Virtual Disk Information Inspector (paper module 6): inspects every disk of
 * the VM — not only the root disk — with the native inspector.
 */
import { versionFromKernelFileName } from '../kernel/kernel-config.js';
import type { VmDisk, VmSpec } from '../xl/vm-spec.js';

export interface DiskReport {
  disk: VmDisk;
  inspection?: DiskInspection;
  /** Why the disk could not be inspected: a missing file is itself a finding. */
  error?: { code: string; message: string };
}

/** The guest kernel's release, from the kernel file's name (vmlinuz-6.1.0-56-amd64), when it says. */
export function guestKernelOf(spec: Pick<VmSpec, 'kernel'>): string | undefined {
  return spec.kernel ? versionFromKernelFileName(spec.kernel) : undefined;
}

export async function inspectVmDisks(
  disks: VmDisk[],
  inspect: (path: string, options?: InspectOptions) => Promise<DiskInspection>,
  guestKernel?: string,
): Promise<DiskReport[]> {
  const options: InspectOptions = guestKernel ? { guestKernel } : {};
  const reports: DiskReport[] = [];
  for (const disk of disks) {
    if (!disk.target) {
      reports.push({ disk, error: { code: 'ERR_NO_TARGET', message: `disk ${disk.vdev} names no target` } });
      continue;
    }
    try {
      reports.push({ disk, inspection: await inspect(disk.target, options) });
    } catch (error) {
      if (!(error instanceof VmbootfailError)) throw error;
      reports.push({ disk, error: { code: error.code, message: error.message } });
    }
  }
  return reports;
}
