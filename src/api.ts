import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConsoleMatcher } from './analysis/console/matcher.js';
import { guestConsoleRules, loadRules } from './analysis/console/rules.js';
import { type DiagnoseReport, diagnoseConsole } from './analysis/diagnose.js';
import { type Cause, mergeCauses } from './analysis/evidence.js';
/** The library's entry points: inspect (no boot) and test (boot on this dom0). */
import type { GrubBoot } from './analysis/guest-boot-needs.js';
import { DiskInspector } from './disk/inspector.js';
import type { BootDriver } from './driver/driver.js';
import { XenDriver } from './driver/xen-driver.js';
import { BootTest, type BootTestEvents, type BootTestReport } from './engine/boot-test.js';
import { invalidArgument } from './errors.js';
import { versionFromKernelFileName } from './kernel/kernel-config.js';
import { type KernelProblem, checkKernelSuitability } from './kernel/kernel-suitability.js';
import { pvBootloaderOf, pvgrubXenLoaderRefusal } from './kernel/pv-bootloader.js';
import { type KernelCheck, type PreflightResult, preflight } from './monitor/pre-checking.js';
import { readTextFile } from './util/safe-open.js';
import {
  abortSignal,
  booleanOption,
  callback,
  nonEmptyString,
  optionsObject,
  wholeNumber,
} from './util/validate-options.js';
import { readXlConfig } from './xl/config.js';
import { type VmSpec, vmSpecFromXlConfig } from './xl/vm-spec.js';

export interface InspectReport {
  schemaVersion: 1;
  vm: { name: string; configPath: string };
  spec: VmSpec;
  preflight: PreflightResult;
  /** Most likely first; empty when no fault is predicted. */
  causes: Cause[];
  verdict: 'OK' | 'FAULT_PREDICTED';
}

async function kernelCheck(
  spec: VmSpec,
  rootFsType: string | null,
  fromImage?: GrubBoot,
): Promise<KernelCheck | undefined> {
  if (fromImage) return imageKernelCheck(fromImage, rootFsType, spec.type ?? 'pv');
  if (!spec.kernel || spec.bootloader) return undefined;
  return checkKernelSuitability({
    kernel: spec.kernel,
    ...(spec.ramdisk ? { ramdisk: spec.ramdisk } : {}),
    rootFsType,
  });
}

/**
 * The kernel pygrub would boot, checked like a kernel = in dom0: it, its initrd and its
 * config-<version> are copied out of the image (read-only, libext2fs) into a private temporary
 * directory, checked there, and the directory removed. Paths in the findings name the image.
 */
async function imageKernelCheck(
  boot: GrubBoot,
  rootFsType: string | null,
  guestType: string,
): Promise<KernelCheck | undefined> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vmbootfail-guest-kernel-'));
  try {
    const inspector = new DiskInspector();
    const copy = async (name: string) => {
      const dest = path.join(dir, path.posix.basename(name));
      const r = await inspector.copyFileOut(boot.target, boot.offsetBytes, name, dest);
      return r.copied ? dest : undefined;
    };
    const kernel = await copy(boot.kernel);
    if (!kernel) return undefined;
    const ramdisk = boot.initrd ? await copy(boot.initrd) : undefined;
    const version = versionFromKernelFileName(boot.kernel);
    if (version) await copy(path.posix.join(path.posix.dirname(boot.kernel), `config-${version}`));
    const check = await checkKernelSuitability(
      { kernel, ...(ramdisk ? { ramdisk } : {}), rootFsType },
      { bootDir: dir },
    );
    const inImage = `${boot.where}:/${path.posix.dirname(boot.kernel)}`.replace(/\/\.$/, '');
    const rename = (t: string) => t.split(dir).join(inImage);
    // pvgrub in a PV guest loads the kernel with GRUB's own Xen loader, not libxc's.
    const refusal =
      boot.reader === 'pvgrub' && guestType === 'pv' ? await pvgrubXenLoaderRefusal(kernel) : undefined;
    const loaderProblems: KernelProblem[] = refusal
      ? [
          {
            code: 'KERNEL_NOT_LOADABLE_BY_PVGRUB',
            message: `GRUB (pvgrub, the config's kernel =) cannot load ${boot.where}:/${boot.kernel}: ${refusal}`,
            remedy:
              'install a kernel built with CONFIG_KERNEL_XZ or CONFIG_KERNEL_GZIP in the guest, or copy this kernel and its initrd to dom0 and name them in kernel = and ramdisk = (libxc unpacks it), or boot the guest as type = "pvh" with GRUB\'s PVH image',
            evidence: { kernel: `${boot.where}:/${boot.kernel}`, loader: 'grub-core/loader/i386/xen_file.c' },
          },
        ]
      : [];
    return {
      verdict: refusal ? 'unsuitable' : check.verdict,
      problems: [...loaderProblems, ...check.problems].map((p) => ({
        ...p,
        message: rename(p.message),
        ...(p.remedy ? { remedy: rename(p.remedy) } : {}),
        ...(p.evidence
          ? { evidence: Object.fromEntries(Object.entries(p.evidence).map(([k, v]) => [k, rename(v)])) }
          : {}),
      })),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Predicts boot faults from an xl config, its disks and its kernel, in milliseconds, without booting. */
export async function inspectConfig(configPath: string): Promise<InspectReport> {
  const spec = vmSpecFromXlConfig(await readXlConfig(configPath));
  const inspector = new DiskInspector();
  const result = await preflight(spec, {
    inspectDisk: (p, o) => inspector.inspect(p, o),
    checkKernel: kernelCheck,
    pvBootloaderOf,
  });
  const causes = mergeCauses(result.causes);
  return {
    schemaVersion: 1,
    vm: { name: spec.name, configPath },
    spec,
    preflight: result,
    causes,
    verdict: causes.some((c) => c.confidence >= 0.5) ? 'FAULT_PREDICTED' : 'OK',
  };
}

export interface TestVmOptions {
  /** Tries after the first (default 3, as in the paper). */
  retries?: number;
  timeLimitMs?: number;
  keepOnFailure?: boolean;
  /** Create the domain even when the preflight proved the boot cannot succeed (see BootTestOptions). */
  bootDespitePreflight?: boolean;
  /** A directory of extra or overriding console rules (*.yaml). */
  rulesDir?: string;
  signal?: AbortSignal;
  onPhase?: (...args: BootTestEvents['phase']) => void;
  onProgress?: (...args: BootTestEvents['progress']) => void;
  /** Defaults to the live Xen driver; tests pass a ReplayDriver. */
  driver?: BootDriver;
}

/** Boots the VM of an xl config on this dom0 and reports OK, TRANSIENT or PERMANENT with causes. */
/** Every option checked before anything starts: a wrong type is ERR_INVALID_ARGUMENT, not a TypeError later. */
function checkTestVmOptions(options: unknown): TestVmOptions {
  const o = optionsObject(options, 'testVm options');
  wholeNumber(o.retries, 'retries', 0, 100);
  wholeNumber(o.timeLimitMs, 'timeLimitMs', 1, 2 ** 31 - 1);
  booleanOption(o.keepOnFailure, 'keepOnFailure');
  booleanOption(o.bootDespitePreflight, 'bootDespitePreflight');
  nonEmptyString(o.rulesDir, 'rulesDir');
  abortSignal(o.signal, 'signal');
  callback(o.onPhase, 'onPhase');
  callback(o.onProgress, 'onProgress');
  if (o.driver !== undefined && (o.driver === null || typeof o.driver !== 'object'))
    throw invalidArgument('driver must be a BootDriver object');
  return o as TestVmOptions;
}

export async function testVm(configPath: string, testOptions: TestVmOptions = {}): Promise<BootTestReport> {
  const options = checkTestVmOptions(testOptions);
  const spec = vmSpecFromXlConfig(await readXlConfig(configPath));
  const { rules } = await loadRules(options.rulesDir ? { userDir: options.rulesDir } : {});
  const driver = options.driver ?? (await XenDriver.open());
  try {
    const test = new BootTest(spec, driver, {
      consoleMatcher: () => new ConsoleMatcher(guestConsoleRules(rules)),
      checkKernel: kernelCheck,
      pvBootloaderOf,
      ...(options.retries !== undefined ? { retries: options.retries } : {}),
      ...(options.timeLimitMs !== undefined ? { timeLimitMs: options.timeLimitMs } : {}),
      ...(options.keepOnFailure ? { keepOnFailure: true } : {}),
      ...(options.bootDespitePreflight ? { bootDespitePreflight: true } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (options.onPhase) test.on('phase', options.onPhase);
    if (options.onProgress) test.on('progress', options.onProgress);
    return await test.run();
  } finally {
    if (!options.driver) await driver.close();
  }
}

export interface DiagnoseLogOptions {
  /** The VM's xl config: its disks and kernel are inspected, and proven causes outrank console lines. */
  configPath?: string;
  /** A directory of extra or overriding console rules (*.yaml). */
  rulesDir?: string;
}

/** Largest console log read: a day of a chatty guest's console, far more than the 1 s budget needs. */
export const MAX_CONSOLE_LOG_BYTES = 256 * 1024 * 1024;

/** The analysis `test` makes after a failed try, on a saved console log; no Xen needed. */
export async function diagnoseLog(
  logPath: string,
  options: DiagnoseLogOptions = {},
): Promise<DiagnoseReport & { preflight?: InspectReport }> {
  if (typeof logPath !== 'string' || logPath.length === 0)
    throw invalidArgument('logPath must be a non-empty string');
  if (options === null || typeof options !== 'object')
    throw invalidArgument('diagnose options must be an object');
  const text = await readTextFile(logPath, {
    maxBytes: MAX_CONSOLE_LOG_BYTES,
    // A console log can hold NULs (a guest writing garbage); they are removed by the matcher.
    rejectBinary: false,
    code: 'ERR_BAD_LOG',
  });
  const { rules } = await loadRules(options.rulesDir ? { userDir: options.rulesDir } : {});
  const predicted = options.configPath ? await inspectConfig(options.configPath) : undefined;
  const report = diagnoseConsole(text, rules, {
    ...(predicted
      ? {
          preflightCauses: predicted.causes,
          ramdiskMayLoadDrivers:
            predicted.spec.ramdisk !== undefined || predicted.spec.bootloader !== undefined,
        }
      : {}),
  });
  return { ...report, ...(predicted ? { preflight: predicted } : {}) };
}
