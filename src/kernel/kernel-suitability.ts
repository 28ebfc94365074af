/**
 * The paper's UVKE fault ("unsuitable VM kernel: root fs driver built as a module and no ramdisk, or kernel
 * damaged") predicted without booting: from the kernel image, its build config and the ramdisk's file list.
 */

import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { shellCommand } from '../util/shell-quote.js';
import { xlString } from '../xl/config.js';
import { errorText } from './compression.js';
import { InitramfsError, type InitramfsListing, listInitramfs } from './initramfs.js';
import {
  type KernelConfig,
  locateKernelConfig,
  tristate,
  versionFromKernelFileName,
} from './kernel-config.js';
import { type KernelImageReport, inspectKernelImage } from './kernel-image.js';
import { defaultToolDirs, findReadnotes } from './tools.js';

/**
 * `update-initramfs <mode> -k <version>`, the version shell-quoted: it comes from the kernel's file name
 * or its bzImage header, which whoever built the kernel wrote.
 */
function updateInitramfs(mode: '-c' | '-u', version: string | undefined): string {
  return version === undefined
    ? `update-initramfs ${mode} -k <version>`
    : shellCommand('update-initramfs', mode, '-k', version);
}

export type KernelProblemCode =
  | 'KERNEL_MISSING'
  | 'KERNEL_NOT_PV'
  | 'KERNEL_NOT_LOADABLE_BY_PVGRUB'
  | 'KERNEL_CONFIG_UNKNOWN'
  | 'BLOCK_FRONTEND_MISSING'
  | 'ROOT_FS_DRIVER_MISSING'
  | 'RAMDISK_MISSING'
  | 'RAMDISK_UNREADABLE';

export interface KernelProblem {
  code: KernelProblemCode;
  message: string;
  remedy?: string;
  evidence: Record<string, string>;
}

export interface KernelRequirement {
  /** CONFIG_XEN_BLKDEV_FRONTEND, CONFIG_EXT4_FS, CONFIG_XFS_FS, CONFIG_BTRFS_FS, ... */
  option: string;
  /** xen-blkfront, ext4, ... */
  module: string;
  configValue: 'y' | 'm' | 'n' | 'unknown';
  satisfiedBy: 'built-in' | 'ramdisk' | 'missing' | 'unknown';
}

export interface KernelSuitability {
  verdict: 'suitable' | 'unsuitable' | 'unknown';
  kernel: {
    path: string;
    exists: boolean;
    version?: string;
    pvCapable?: boolean;
    /** What the file is: bzImage, elf, compressed-elf, multiboot, unknown, missing. */
    format?: string;
    /** Compression of the bzImage payload (Debian: xz). */
    compression?: string;
    /** Why pvCapable is what it is. */
    pvReason?: string;
  };
  config?: { path: string; source: 'beside-kernel' | 'boot-dir' | 'explicit' };
  ramdisk?: {
    path: string;
    exists: boolean;
    compression?: string;
    moduleCount?: number;
    /** Archives in order, e.g. ['cpio', 'zstd'] for early microcode + a zstd main archive. */
    segments?: string[];
  };
  requirements: KernelRequirement[];
  problems: KernelProblem[];
  /** Why a verdict is 'unknown', and anything else worth telling that is not a problem. */
  notes?: string[];
}

export interface KernelSuitabilityInput {
  kernel: string;
  ramdisk?: string;
  /** From the disk inspector: ext4, xfs, btrfs, ... */
  rootFsType?: string | null;
  /** Explicit path of the kernel's config. */
  kernelConfig?: string;
}

export interface KernelSuitabilityOptions {
  /** Directories searched for xz, zstd, lsinitramfs, ...; default PATH plus the sbin directories. */
  toolDirs?: readonly string[];
  /** Xen's readnotes, or false never to run it; default the newest /usr/lib/xen-<version>/bin/readnotes. */
  readnotes?: string | false;
  /** Where configs are looked for when not beside the kernel; default /boot. */
  bootDir?: string;
  /** Time limit for each external tool, ms; default 120 000. */
  toolTimeoutMs?: number;
}

interface DriverSpec {
  option: string;
  module: string;
  /** Path under lib/modules/<version>/kernel/, without the .ko suffix. */
  modulePath: string;
  /** Another option this alternative depends on (ext2 served by the ext4 driver). */
  alsoNeeds?: { option: string; value: 'y' };
}

const BLOCK_FRONTEND: DriverSpec = {
  option: 'CONFIG_XEN_BLKDEV_FRONTEND',
  module: 'xen-blkfront',
  modulePath: 'drivers/block/xen-blkfront',
};

const fsDriver = (option: string, module: string, dir = module): DriverSpec => ({
  option,
  module,
  modulePath: `fs/${dir}/${module}`,
});

/** Alternatives in order of preference; the first one available wins. */
const ROOT_FS_DRIVERS: Record<string, DriverSpec[]> = {
  ext4: [fsDriver('CONFIG_EXT4_FS', 'ext4')],
  // Since Linux 4.3 CONFIG_EXT3_FS only selects ext4; older kernels had an ext3 module.
  ext3: [fsDriver('CONFIG_EXT4_FS', 'ext4'), fsDriver('CONFIG_EXT3_FS', 'ext3')],
  ext2: [
    fsDriver('CONFIG_EXT2_FS', 'ext2'),
    { ...fsDriver('CONFIG_EXT4_FS', 'ext4'), alsoNeeds: { option: 'CONFIG_EXT4_USE_FOR_EXT2', value: 'y' } },
  ],
  xfs: [fsDriver('CONFIG_XFS_FS', 'xfs')],
  btrfs: [fsDriver('CONFIG_BTRFS_FS', 'btrfs')],
  f2fs: [fsDriver('CONFIG_F2FS_FS', 'f2fs')],
  jfs: [fsDriver('CONFIG_JFS_FS', 'jfs')],
  reiserfs: [fsDriver('CONFIG_REISERFS_FS', 'reiserfs')],
  vfat: [fsDriver('CONFIG_VFAT_FS', 'vfat', 'fat')],
  squashfs: [fsDriver('CONFIG_SQUASHFS', 'squashfs')],
};

/** What a missing driver looks like on the console (testbed.md), so the prediction can be matched later. */
const CONSOLE_SYMPTOM: Record<'frontend' | 'rootfs', string> = {
  frontend: '"xenbus_probe_frontend: Device with no driver: device/vbd/51712", then no root device',
  rootfs: '"Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)"',
};

interface RamdiskState {
  path: string;
  exists: boolean;
  listing?: InitramfsListing;
  error?: InitramfsError;
}

interface Evaluated {
  spec: DriverSpec;
  requirement: KernelRequirement;
  /** Kernel versions the ramdisk holds this module for. */
  ramdiskVersions: string[];
  ramdiskModule?: string;
}

export async function checkKernelSuitability(
  input: KernelSuitabilityInput,
  options: KernelSuitabilityOptions = {},
): Promise<KernelSuitability> {
  const toolDirs = options.toolDirs ?? defaultToolDirs();
  const timeoutMs = options.toolTimeoutMs ?? 120_000;
  const readnotes = options.readnotes === false ? undefined : (options.readnotes ?? (await findReadnotes()));
  const ramdiskPath = input.ramdisk?.trim() ? input.ramdisk : undefined;
  const problems: KernelProblem[] = [];
  const notes: string[] = [];

  const [image, ramdisk] = await Promise.all([
    inspectKernelImage(input.kernel, { toolDirs, timeoutMs, readnotes }),
    ramdiskPath === undefined
      ? Promise.resolve(undefined)
      : inspectRamdisk(ramdiskPath, { toolDirs, timeoutMs }),
  ]);

  const nameVersion = versionFromKernelFileName(input.kernel);
  const version = image.version ?? nameVersion;
  const lookup = await locateKernelConfig(
    input.kernel,
    [...new Set([nameVersion, image.version].filter((v): v is string => v !== undefined))],
    input.kernelConfig,
    options.bootDir ?? '/boot',
  );
  const config = lookup.config;
  const initrd = join(dirname(resolve(input.kernel)), `initrd.img-${version ?? '<version>'}`);
  const initrdExists = version !== undefined && (await isFile(initrd));
  const ramdiskUnusable =
    ramdisk?.listing && config ? kernelCannotUnpack(config, ramdisk.listing) : undefined;
  const context: Context = { input, version, config, ramdisk, initrd, initrdExists, ramdiskUnusable };

  let pvCapable = image.pvCapable;
  let pvReason = image.reason;
  if (!image.exists) {
    problems.push({
      code: 'KERNEL_MISSING',
      message: `kernel ${input.kernel}: ${image.reason}`,
      remedy: 'Point kernel = in the xl config at an existing PV kernel, e.g. /boot/vmlinuz-<version>.',
      evidence: { kernel: input.kernel, reason: image.reason },
    });
  } else if (pvCapable === undefined && config && tristate(config, 'CONFIG_XEN_PV') === 'n') {
    pvCapable = false;
    pvReason = `${config.path} has CONFIG_XEN_PV unset (the image itself could not be read: ${image.reason})`;
  }
  if (image.exists && pvCapable === false) problems.push(notPvProblem(image, pvReason, version, context));
  if (image.exists && pvCapable === undefined)
    notes.push(`PV support of the kernel not established: ${pvReason}`);

  if (!config) {
    problems.push({
      code: 'KERNEL_CONFIG_UNKNOWN',
      message: `no usable kernel config for ${input.kernel}: ${lookup.failure ?? 'not found'}`,
      remedy: `Install config-${version ?? '<version>'} beside the kernel (Debian's linux-image package puts it in /boot), or pass the config path explicitly.`,
      evidence: compact({ kernel: input.kernel, kernelVersion: version, tried: lookup.tried.join(', ') }),
    });
  }

  if (ramdisk && !ramdisk.exists) {
    problems.push({
      code: 'RAMDISK_MISSING',
      message: `ramdisk ${ramdisk.path} does not exist: xl cannot load it and the domain is not created`,
      remedy: `Fix ramdisk = in the xl config, or build it: ${updateInitramfs('-c', version)}.`,
      evidence: { ramdisk: ramdisk.path },
    });
  } else if (ramdisk?.error) {
    problems.push({
      code: 'RAMDISK_UNREADABLE',
      message: `ramdisk ${ramdisk.path} cannot be listed: ${ramdisk.error.message}`,
      remedy:
        ramdisk.error.reason === 'tool-missing'
          ? 'Install the missing decompressor on this host (see the message), then check again.'
          : `Rebuild the ramdisk: ${updateInitramfs('-c', version)}.`,
      evidence: compact({
        ramdisk: ramdisk.path,
        reason: ramdisk.error.reason,
        offset: ramdisk.error.offset?.toString(),
      }),
    });
  }
  if (ramdisk?.listing) notes.push(...ramdisk.listing.warnings.map((warning) => `ramdisk: ${warning}`));
  if (ramdisk && ramdiskUnusable) {
    problems.push({
      code: 'RAMDISK_UNREADABLE',
      message: `the kernel cannot use ramdisk ${ramdisk.path}: ${ramdiskUnusable.why}`,
      remedy: ramdiskUnusable.remedy,
      evidence: {
        ramdisk: ramdisk.path,
        reason: 'kernel-cannot-unpack',
        option: ramdiskUnusable.option,
        configPath: config?.path ?? '',
      },
    });
  }

  const requirements: KernelRequirement[] = [];
  const frontend = evaluate(BLOCK_FRONTEND, context);
  requirements.push(frontend.requirement);
  if (frontend.requirement.satisfiedBy === 'missing')
    problems.push(missingDriverProblem(frontend, 'frontend', context));

  const fsType = input.rootFsType?.trim().toLowerCase();
  const fsAlternatives = fsType ? ROOT_FS_DRIVERS[fsType] : undefined;
  if (!fsType) {
    notes.push('root filesystem type unknown: only the block frontend was checked');
  } else if (!fsAlternatives) {
    notes.push(`no driver table for root filesystem type "${fsType}": only the block frontend was checked`);
  } else {
    const rootFs = chooseAlternative(fsAlternatives.map((spec) => evaluate(spec, context)));
    requirements.push(rootFs.requirement);
    if (rootFs.requirement.satisfiedBy === 'missing')
      problems.push(missingDriverProblem(rootFs, 'rootfs', context));
  }

  const verdict = decideVerdict(problems, requirements, pvCapable, ramdisk, fsAlternatives !== undefined);
  if (verdict === 'unknown' && requirements.some((r) => r.satisfiedBy === 'unknown')) {
    notes.push(
      'a driver is built as a module or its config is unknown, and the ramdisk could not confirm it',
    );
  }

  const result: KernelSuitability = {
    verdict,
    kernel: withoutUndefined<KernelSuitability['kernel']>({
      path: input.kernel,
      exists: image.exists,
      version,
      pvCapable,
      format: image.format,
      compression: image.compression,
      pvReason,
    }),
    requirements,
    problems,
  };
  if (config) result.config = { path: config.path, source: config.source };
  if (ramdisk) {
    result.ramdisk = withoutUndefined<NonNullable<KernelSuitability['ramdisk']>>({
      path: ramdisk.path,
      exists: ramdisk.exists,
      compression: ramdisk.listing?.compression,
      moduleCount: ramdisk.listing?.moduleCount,
      segments: ramdisk.listing?.segments,
    });
  }
  if (notes.length > 0) result.notes = notes;
  return result;
}

interface Context {
  input: KernelSuitabilityInput;
  version: string | undefined;
  config: KernelConfig | undefined;
  ramdisk: RamdiskState | undefined;
  /** The ramdisk Debian installs beside this kernel, and whether it is there. */
  initrd: string;
  initrdExists: boolean;
  /** Set when the kernel was built unable to unpack the given ramdisk. */
  ramdiskUnusable: { option: string; why: string; remedy: string } | undefined;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function inspectRamdisk(
  path: string,
  options: { toolDirs: readonly string[]; timeoutMs: number },
): Promise<RamdiskState> {
  try {
    await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { path, exists: false };
    return {
      path,
      exists: true,
      error: new InitramfsError(`cannot read ${path}: ${errorText(error)}`, 'io'),
    };
  }
  try {
    return { path, exists: true, listing: await listInitramfs(path, options) };
  } catch (error) {
    const wrapped = error instanceof InitramfsError ? error : new InitramfsError(errorText(error), 'io');
    return { path, exists: true, error: wrapped };
  }
}

function evaluate(spec: DriverSpec, context: Context): Evaluated {
  const { config, ramdisk, version } = context;
  let configValue: KernelRequirement['configValue'] = config ? tristate(config, spec.option) : 'unknown';
  if (config && spec.alsoNeeds && config.values.get(spec.alsoNeeds.option) !== spec.alsoNeeds.value) {
    configValue = 'n';
  }
  const pattern = new RegExp(
    `^(?:usr/)?lib/modules/([^/]+)/kernel/${escapeRegExp(spec.modulePath)}\\.ko(?:\\.(?:xz|zst|gz))?$`,
  );
  const ramdiskVersions: string[] = [];
  let ramdiskModule: string | undefined;
  for (const path of ramdisk?.listing?.modulePaths ?? []) {
    const match = pattern.exec(path);
    if (!match?.[1]) continue;
    if (!ramdiskVersions.includes(match[1])) ramdiskVersions.push(match[1]);
    // Modules for another kernel version would not load.
    if (ramdiskModule === undefined && (version === undefined || match[1] === version)) ramdiskModule = path;
  }
  const inRamdisk = ramdiskModule !== undefined && context.ramdiskUnusable === undefined;
  const ramdiskReadable = ramdisk?.listing !== undefined;
  let satisfiedBy: KernelRequirement['satisfiedBy'];
  switch (configValue) {
    case 'y':
      satisfiedBy = 'built-in';
      break;
    case 'n':
      satisfiedBy = 'missing';
      break;
    case 'm':
      satisfiedBy = inRamdisk ? 'ramdisk' : ramdisk?.exists && !ramdiskReadable ? 'unknown' : 'missing';
      break;
    default:
      satisfiedBy = inRamdisk ? 'ramdisk' : 'unknown';
  }
  const evaluated: Evaluated = {
    spec,
    requirement: { option: spec.option, module: spec.module, configValue, satisfiedBy },
    ramdiskVersions,
  };
  if (ramdiskModule !== undefined) evaluated.ramdiskModule = ramdiskModule;
  return evaluated;
}

function chooseAlternative(alternatives: Evaluated[]): Evaluated {
  const available = alternatives.find((a) => ['built-in', 'ramdisk'].includes(a.requirement.satisfiedBy));
  const undecided = alternatives.find((a) => a.requirement.satisfiedBy === 'unknown');
  const first = alternatives[0];
  if (!first) throw new Error('a driver table entry has no alternatives');
  return available ?? undecided ?? first;
}

function missingDriverProblem(
  evaluated: Evaluated,
  role: 'frontend' | 'rootfs',
  context: Context,
): KernelProblem {
  const { spec, requirement, ramdiskVersions } = evaluated;
  const { input, version, config, ramdisk, initrd, initrdExists, ramdiskUnusable } = context;
  const versionText = version ?? '<version>';
  const what =
    role === 'frontend'
      ? 'the kernel cannot see its virtual disk'
      : `the kernel cannot mount the ${input.rootFsType} root`;
  const setting = `${spec.option}=${requirement.configValue}`;
  let message: string;
  let remedy: string;
  if (requirement.configValue === 'n') {
    const dependency = spec.alsoNeeds ? ` (or ${spec.alsoNeeds.option} is not ${spec.alsoNeeds.value})` : '';
    message = `${setting}${dependency}: the kernel has no ${spec.module} driver, so ${what}`;
    remedy = `Use a kernel built with ${spec.option}=y (or =m with ${spec.module}.ko in the ramdisk), such as Debian's linux-image-amd64.`;
  } else if (!ramdisk) {
    message = `${setting} (${spec.module} is a module) and no ramdisk is given, so ${what}`;
    const create = initrdExists ? 'it exists' : `create it first: ${updateInitramfs('-c', version)}`;
    remedy = `Add ramdisk = ${xlString(initrd)} to the xl config (${create}; it must hold ${spec.module}.ko), or rebuild the kernel with ${spec.option}=y.`;
  } else if (ramdiskUnusable) {
    message = `${setting} and the kernel cannot unpack the ramdisk (${ramdiskUnusable.why}), so ${what}`;
    remedy = ramdiskUnusable.remedy;
  } else if (ramdiskVersions.length > 0) {
    message = `${setting} and the ramdisk holds ${spec.module} only for ${ramdiskVersions.join(', ')}, not for ${versionText}, so ${what}`;
    const create = initrdExists ? '' : ` (create it first: ${updateInitramfs('-c', version)})`;
    remedy = `Use the ramdisk built for ${versionText}: ramdisk = ${xlString(initrd)}${create}.`;
  } else {
    message = `${setting} and the ramdisk does not contain ${spec.module}.ko, so ${what}`;
    remedy = `Add ${spec.module} to /etc/initramfs-tools/modules and rebuild the ramdisk (${updateInitramfs('-u', version)}), or rebuild the kernel with ${spec.option}=y.`;
  }
  return {
    code: role === 'frontend' ? 'BLOCK_FRONTEND_MISSING' : 'ROOT_FS_DRIVER_MISSING',
    message,
    remedy,
    evidence: compact({
      option: spec.option,
      configValue: requirement.configValue,
      configPath: config?.path,
      module: spec.module,
      kernel: input.kernel,
      kernelVersion: version,
      ramdisk: ramdisk?.path ?? 'none',
      ramdiskModuleVersions: ramdiskVersions.length > 0 ? ramdiskVersions.join(', ') : undefined,
      rootFsType: role === 'rootfs' ? (input.rootFsType ?? undefined) : undefined,
      expectedConsole: CONSOLE_SYMPTOM[role],
    }),
  };
}

function notPvProblem(
  image: KernelImageReport,
  reason: string,
  version: string | undefined,
  context: Context,
): KernelProblem {
  const damaged = image.damaged;
  return {
    code: 'KERNEL_NOT_PV',
    message: damaged
      ? `kernel ${context.input.kernel} is damaged: ${reason}`
      : `kernel ${context.input.kernel} cannot boot as a Xen PV guest: ${reason}`,
    remedy: damaged
      ? `Reinstall the kernel (${version ? shellCommand('apt-get', 'install', '--reinstall', `linux-image-${version}`) : 'apt-get install --reinstall linux-image-<version>'}) or copy it again.`
      : 'Use a kernel built with CONFIG_XEN_PV=y (Debian\'s linux-image-amd64 is), or boot the VM as type="pvh"/"hvm".',
    evidence: compact({
      kernel: context.input.kernel,
      format: image.format,
      compression: image.compression,
      xenNotes: image.xenNotes.length > 0 ? image.xenNotes.join(', ') : 'none',
      method: image.method,
      readnotes: image.readnotesOutput,
      expectedXl: 'xc_dom_find_loader: no loader found: Invalid kernel',
    }),
  };
}

const RD_OPTION: Record<string, string> = {
  gzip: 'CONFIG_RD_GZIP',
  bzip2: 'CONFIG_RD_BZIP2',
  lzma: 'CONFIG_RD_LZMA',
  xz: 'CONFIG_RD_XZ',
  lzo: 'CONFIG_RD_LZO',
  lz4: 'CONFIG_RD_LZ4',
  zstd: 'CONFIG_RD_ZSTD',
};

/** A ramdisk the kernel was built unable to unpack is as good as none. */
function kernelCannotUnpack(
  config: KernelConfig,
  listing: InitramfsListing,
): { option: string; why: string; remedy: string } | undefined {
  if (tristate(config, 'CONFIG_BLK_DEV_INITRD') !== 'y') {
    return {
      option: 'CONFIG_BLK_DEV_INITRD',
      why: 'CONFIG_BLK_DEV_INITRD is not set, so it ignores any ramdisk',
      remedy: 'Build the drivers into the kernel (=y), or use a kernel with CONFIG_BLK_DEV_INITRD=y.',
    };
  }
  const option = RD_OPTION[listing.compression];
  if (option && tristate(config, option) !== 'y') {
    return {
      option,
      why: `it is ${listing.compression}-compressed and ${option} is not set`,
      remedy: `Rebuild the ramdisk with a compression the kernel has (COMPRESS= in /etc/initramfs-tools/initramfs.conf), or set ${option}=y.`,
    };
  }
  return undefined;
}

function decideVerdict(
  problems: KernelProblem[],
  requirements: KernelRequirement[],
  pvCapable: boolean | undefined,
  ramdisk: RamdiskState | undefined,
  rootFsChecked: boolean,
): KernelSuitability['verdict'] {
  const ramdiskBroken = ramdisk?.error?.reason === 'corrupt' || ramdisk?.error?.reason === 'truncated';
  const fatal = problems.some(
    (problem) =>
      problem.code === 'KERNEL_MISSING' ||
      problem.code === 'KERNEL_NOT_PV' ||
      problem.code === 'BLOCK_FRONTEND_MISSING' ||
      problem.code === 'ROOT_FS_DRIVER_MISSING' ||
      problem.code === 'RAMDISK_MISSING' ||
      (problem.code === 'RAMDISK_UNREADABLE' &&
        (ramdiskBroken || problem.evidence.reason === 'kernel-cannot-unpack')),
  );
  if (fatal) return 'unsuitable';
  const undecided =
    pvCapable === undefined ||
    !rootFsChecked ||
    ramdisk?.error !== undefined ||
    requirements.some((requirement) => requirement.satisfiedBy === 'unknown');
  return undecided ? 'unknown' : 'suitable';
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Evidence is a flat string map: absent facts are left out rather than written as "undefined". */
function compact(record: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(record)) if (value !== undefined) out[key] = value;
  return out;
}

/** Leaves optional fields out instead of present-but-undefined, so results compare and print cleanly. */
function withoutUndefined<T extends object>(record: T): T {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as T;
}
