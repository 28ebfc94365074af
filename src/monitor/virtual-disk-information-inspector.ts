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
  pairBtrfsDevices(reports);
  return reports;
}

/**
 * A btrfs filesystem across several devices mounts when the guest has them all (udev scans each
 * one before the mount). Each disk alone is judged DEVICES_MISSING; when the VM's disks hold every
 * device of the filesystem, that finding is dropped and the filesystem mounts as far as the rest
 * of its checks go.
 */
export function pairBtrfsDevices(reports: DiskReport[]): void {
  const filesystems = reports.flatMap((r) =>
    r.inspection
      ? [
          ...(r.inspection.wholeDisk ? [{ r, fs: r.inspection.wholeDisk, partition: undefined }] : []),
          ...r.inspection.partitions.map((p) => ({
            r,
            fs: p.filesystem,
            partition: p.number as number | undefined,
          })),
        ]
      : [],
  );
  const devidsOf = new Map<string, Set<number>>();
  for (const { fs } of filesystems)
    if (fs.type === 'btrfs' && fs.uuid && fs.btrfsDevice)
      devidsOf.set(fs.uuid, (devidsOf.get(fs.uuid) ?? new Set()).add(fs.btrfsDevice.devid));
  for (const { r, fs, partition } of filesystems) {
    if (fs.type !== 'btrfs' || !fs.uuid || !fs.btrfsDevice || !r.inspection) continue;
    const present = devidsOf.get(fs.uuid);
    if (!fs.btrfsDevice.devices.every((d) => present?.has(d))) continue;
    const inspection = r.inspection;
    const here = (f: DiskInspection['findings'][number]) => f.partition === partition;
    inspection.findings = inspection.findings.filter((f) => !(here(f) && f.code === 'DEVICES_MISSING'));
    const left = inspection.findings.filter((f) => here(f) && f.severity !== 'warning');
    fs.mount = left.some((f) => f.severity === 'will-not-mount')
      ? 'will-not-mount'
      : left.length > 0
        ? 'read-only'
        : inspection.findings.some((f) => here(f))
          ? 'warning'
          : 'mounts';
  }
}
