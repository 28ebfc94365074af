/** What the engine needs to know about the VM under test, from its xl config. */
import path from 'node:path';
import type { XlConfig } from './config.js';

export interface VmDisk {
  /** Guest device name, e.g. xvda. */
  vdev: string;
  /** Xen device number, as in xenstore device/vbd/<device>. */
  device?: number;
  /** Backing file or block device. */
  target?: string;
  format?: string;
  access?: string;
  /** The disk spec as written in the config. */
  spec: string;
}

export interface VmSpec {
  configPath: string;
  name: string;
  type?: string;
  kernel?: string;
  ramdisk?: string;
  bootloader?: string;
  /** The root device the kernel is told to mount (root= or root=... in extra/cmdline). */
  rootDevice?: string;
  disks: VmDisk[];
  /** A `disk =` line that exists only as a comment (the paper's VMCE). */
  commentedOutDisk?: { line: number; text: string };
  /** What boots the guest when there is no kernel = or bootloader =: firmware =, or builder = "hvm". */
  firmware?: string;
}

/**
 * A PV or PVH guest needs something to boot (xl.cfg(5)): a kernel = in dom0, a
 * bootloader = (pygrub), or for PVH a firmware = (pvgrub). HVM boots its BIOS.
 */
export function hasBootSource(spec: VmSpec): boolean {
  return (
    spec.kernel !== undefined ||
    spec.bootloader !== undefined ||
    spec.firmware !== undefined ||
    spec.type === 'hvm'
  );
}

/** True when the kernel is pointed at a Xen/IDE/SCSI disk it needs a VBD for. */
export function expectsRootDisk(spec: VmSpec): boolean {
  if (!spec.rootDevice) return spec.disks.length > 0 || spec.commentedOutDisk !== undefined;
  return (
    /^\/dev\/(xvd|hd|sd|vd)[a-z]/.test(spec.rootDevice) || /^(UUID|LABEL|PARTUUID)=/.test(spec.rootDevice)
  );
}

/** The engine's view of an xl config. */
export function vmSpecFromXlConfig(config: XlConfig): VmSpec {
  const commented = config.commentedOutKeys.find((k) => k.key === 'disk');
  const spec: VmSpec = {
    configPath: config.file,
    name: config.name ?? path.basename(config.file).replace(/\.(cfg|conf|xl)$/, ''),
    disks: config.disks.map((d) => ({
      vdev: d.vdev ?? `disk${d.index}`,
      ...(d.device !== undefined ? { device: d.device } : {}),
      ...(d.target !== undefined ? { target: d.target } : {}),
      ...(d.format !== undefined ? { format: d.format } : {}),
      ...(d.access !== undefined ? { access: d.access } : {}),
      spec: d.spec,
    })),
  };
  for (const key of ['type', 'kernel', 'ramdisk', 'bootloader', 'rootDevice'] as const) {
    const value = config[key];
    if (value !== undefined) spec[key] = value;
  }
  if (commented) spec.commentedOutDisk = { line: commented.line, text: commented.text };
  const firmware = config.settings.get('firmware')?.value;
  const builder = config.settings.get('builder')?.value;
  if (typeof firmware === 'string') spec.firmware = firmware;
  if (builder === 'hvm' && spec.type === undefined) spec.type = 'hvm';
  return spec;
}
