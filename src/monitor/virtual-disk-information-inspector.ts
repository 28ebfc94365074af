/**
 * Virtual Disk Information Inspector (paper module 6): inspects every disk of
 * the VM — not only the root disk — with the native inspector.
 */
import type { DiskInspection } from '../disk/inspector.js';
import type { VmDisk } from '../engine/vm-spec.js';
import { VmbootfailError } from '../errors.js';

export interface DiskReport {
  disk: VmDisk;
  inspection?: DiskInspection;
  /** Why the disk could not be inspected: a missing file is itself a finding. */
  error?: { code: string; message: string };
}

export async function inspectVmDisks(
  disks: VmDisk[],
  inspect: (path: string) => Promise<DiskInspection>,
): Promise<DiskReport[]> {
  const reports: DiskReport[] = [];
  for (const disk of disks) {
    if (!disk.target) {
      reports.push({ disk, error: { code: 'ERR_NO_TARGET', message: `disk ${disk.vdev} names no target` } });
      continue;
    }
    try {
      reports.push({ disk, inspection: await inspect(disk.target) });
    } catch (error) {
      if (!(error instanceof VmbootfailError)) throw error;
      reports.push({ disk, error: { code: error.code, message: error.message } });
    }
  }
  return reports;
}
