/** SysLog Analysis (paper module 9): console rule matches as causes. */
import { type ConsoleMatch, severityFor } from '../monitor/vm-console-monitor.js';
import { type Cause, type CauseCode, PAPER_FAULT } from './evidence.js';
import { diskOfCapture, weighMissingDevice } from './root-device-missing.js';
import { xlFailureFromLog } from './xl-failure.js';

const FAULT_TO_CAUSE: Record<string, CauseCode> = {
  VMCE: 'VMCE',
  UVDE: 'UVDE',
  DIDF: 'DIDF',
  UVKE: 'UVKE',
  UNKNOWN_KERNEL: 'UNKNOWN_KERNEL',
};

/**
 * `knownDisks`: the VM's disks (vdevs); a line naming another disk (an HVM guest's sda for the
 * config's hda) is kept without a disk rather than tied to one the VM does not have.
 */
const FS_DRIVER_CATEGORIES = new Set(['DISK_DAMAGE', 'KERNEL_OR_INITRD']);

export function analyseConsole(
  matches: ConsoleMatch[],
  ramdiskMayLoadDrivers = false,
  knownDisks?: readonly string[],
): Cause[] {
  const causes: Cause[] = [];
  // A rule that matches again (dracut repeats its timeout warning every half second, a filesystem
  // repeats its error on every read) is one observation, not independent confirmations: each rule
  // gives one cause, from its first fatal line or else its first line.
  const byRule = new Map<string, { m: ConsoleMatch; severity: string }>();
  for (const [i, found] of matches.entries()) {
    let m = found;
    // "No filesystem could mount root, tried:" with the types on the lines after it (Linux >= 4.9
    // prints each on its own line; rule kernel-fs-tried-entry): the list is not empty, the
    // filesystems the kernel has all refused the device, as no-filesystem-could-mount says.
    if (m.ruleId === 'no-filesystem-could-mount-empty' && matches[i + 1]?.cue === 'fs-tried')
      m = {
        ...m,
        ruleId: 'no-filesystem-could-mount',
        fault: 'DIDF',
        message: 'every filesystem driver the kernel has failed to mount the root device',
      };
    const severity = severityFor(m, ramdiskMayLoadDrivers);
    if (severity !== 'fatal' && severity !== 'evidence') continue;
    // Give-up lines ("X does not exist") are weighed with the whole log: root-device-missing.ts.
    if (m.cue === 'device-missing') continue;
    const prev = byRule.get(m.ruleId);
    if (!prev || (prev.severity !== 'fatal' && severity === 'fatal')) byRule.set(m.ruleId, { m, severity });
  }
  // "mount ... failed: Invalid argument", "Failed to mount /sysroot": the filesystem driver refused
  // the device and said why on a line of its own (a feature this kernel lacks, a checksum, a
  // corrupt group): that line names the cause, the bare failure only repeats it.
  const explained = [...byRule.values()].some(
    ({ m }) =>
      m.cue !== 'mount-failed' &&
      m.fault !== undefined &&
      m.captures.device !== undefined &&
      FS_DRIVER_CATEGORIES.has(m.category ?? ''),
  );
  for (const { m, severity } of byRule.values()) {
    const code = m.fault ? FAULT_TO_CAUSE[m.fault] : undefined;
    if (!code) continue;
    if (explained && m.cue === 'mount-failed') continue;
    // A line that names its device ("EXT4-fs (xvdb1): ...") speaks of that disk.
    const named = code === 'DIDF' || code === 'UVDE' ? diskOfCapture(m.captures.device) : undefined;
    const disk = named && (!knownDisks || knownDisks.includes(named)) ? named : undefined;
    causes.push({
      code,
      paperFault: PAPER_FAULT[code],
      ...(disk ? { disk } : {}),
      title: m.message ?? m.ruleId,
      // A console line points at a family of causes; the hypervisor and the disk decide which.
      confidence: severity === 'fatal' ? 0.6 : 0.4,
      evidence: [{ source: 'console', at: m.at, detail: `rule ${m.ruleId}`, value: m.line }],
      ...(m.remedy ? { remedy: m.remedy } : {}),
    });
  }
  const missing = weighMissingDevice(matches, (m) => severityFor(m, ramdiskMayLoadDrivers));
  // init dying after the initramfs found no root ("Attempted to kill init!" when its script exits,
  // as old nash and panic= initramfs do) is the consequence: the reading of the missing root names
  // the family, and the bare panic goes below it.
  if (missing.length > 0)
    for (const c of causes) if (c.code === 'UNKNOWN_KERNEL') c.confidence = Math.min(c.confidence, 0.3);
  causes.push(...missing);
  // xl's and libxl's own lines in a saved log: the domain was not created, and why is in their text.
  const xl = xlFailureFromLog(matches.filter((m) => m.cue === 'xl-error'));
  if (xl) causes.push(xl);
  return causes;
}

/** The paper's catch-all: the boot failed and nothing names why. */
export function unknownKernelProblem(consoleTail: string, reason: string): Cause {
  const lastLines = consoleTail.split('\n').slice(-20).join('\n');
  return {
    code: 'UNKNOWN_KERNEL',
    paperFault: 'UNKNOWN',
    title: 'boot failure caused by an unknown kernel problem',
    confidence: 0.3,
    evidence: [{ source: 'console', detail: reason, value: lastLines }],
    remedy: 'read the console log attached to this report',
  };
}
