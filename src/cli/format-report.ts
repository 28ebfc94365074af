import type { DiagnoseReport } from '../analysis/diagnose.js';
/** Text rendering of boot-test and preflight reports, after the paper's Fig. 6 and 7. */
import { type Cause, confidenceLabel } from '../analysis/evidence.js';
import type { InspectReport } from '../api.js';
import { type BootTestReport, DECIDED_WITHOUT_DOMAIN, type TryReport } from '../engine/boot-test.js';
import type { PreflightResult } from '../monitor/pre-checking.js';
import type { DiskReport } from '../monitor/virtual-disk-information-inspector.js';
import { printableLines } from '../util/printable.js';

const s = (ms: number | undefined) => (ms === undefined ? '?' : `${(ms / 1000).toFixed(1)} s`);

export function formatCause(c: Cause, indent = ''): string[] {
  const lines = [
    `${indent}${c.paperFault === c.code ? c.code : `${c.code} (${c.paperFault})`}: ${c.title}  [confidence ${confidenceLabel(c.confidence)} ${c.confidence.toFixed(2)}]`,
  ];
  for (const e of c.evidence) {
    const when = e.at === undefined ? '' : ` ${s(e.at)}`;
    lines.push(`${indent}  - [${e.source}${when}] ${e.detail}${e.value ? `: ${oneLine(e.value)}` : ''}`);
  }
  if (c.remedy) lines.push(`${indent}  fix: ${c.remedy}`);
  return lines;
}

function oneLine(text: string): string {
  const flat = text.replace(/\s*\n\s*/g, ' | ');
  return flat.length > 200 ? `${flat.slice(0, 197)}...` : flat;
}

export function formatDiskReports(disks: DiskReport[]): string[] {
  return disks.map(({ disk, inspection, error }, i) => {
    const head = `VBD (${i + 1}) : ${disk.vdev} ${disk.target ?? '(no target)'}`;
    if (error) return `${head} ... ${error.message}`;
    if (!inspection) return head;
    if (inspection.loop && !inspection.loop.attached)
      return `${head} ... This virtual disk is not allocated device`;
    if (inspection.findings.length === 0)
      return `${head} ... normal (${inspection.label}, ${inspection.partitions.length} partition(s))`;
    return `${head} ... ${inspection.findings.map((f) => f.code).join(', ')}`;
  });
}

function formatTry(t: TryReport): string {
  const created =
    t.times.hardwareCreationMs !== undefined
      ? `hardware created at ${s(t.times.hardwareCreationMs)}`
      : 'no domain created';
  if (t.outcome === 'booted')
    return `Try ${t.index + 1}: booted (login: at ${s(t.times.verdictMs)}; ${created})`;
  const td =
    t.times.creationToVerdictMs !== undefined
      ? `, detected ${s(t.times.creationToVerdictMs)} after creation`
      : '';
  return `Try ${t.index + 1}: ${t.outcome.toUpperCase()} at ${s(t.times.verdictMs)} (${created}${td}): ${t.reason ?? ''}`.trimEnd();
}

const VERDICT_TEXT: Record<BootTestReport['verdict'], string> = {
  OK: 'OK: the VM booted (bootable VM kernel, normal virtual disks)',
  TRANSIENT: 'TRANSIENT error: the boot failed, then succeeded on a retry',
  PERMANENT: 'PERMANENT fault: the boot fails on every try',
  ERROR: 'ERROR: the test could not observe the VM',
  ABORTED: 'ABORTED',
  REFUSED: 'REFUSED',
};

export function formatBootReport(r: BootTestReport): string {
  const lines: string[] = [];
  lines.push(`VM boot test: ${r.vm.name} (${r.vm.configPath})`);
  lines.push(`Measurement Time Limit : ${Math.round(r.timeLimitMs / 1000)} seconds, retries: ${r.retries}`);
  for (const t of r.tries) lines.push(formatTry(t));
  const failedTries = r.tries.filter((t) => t.outcome !== 'booted').length;
  lines.push('');
  lines.push(
    `Result: ${VERDICT_TEXT[r.verdict]}${r.reason ? ` (${r.reason}${r.reason === DECIDED_WITHOUT_DOMAIN ? '; --boot-anyway creates it' : ''})` : ''}; failed tries: ${failedTries} of ${r.tries.length}`,
  );
  const [primary, ...others] = r.causes;
  if (primary && r.verdict !== 'OK') {
    lines.push('Cause:');
    lines.push(...formatCause(primary, '  '));
    const more = others.filter((c) => c.confidence >= 0.3);
    if (more.length) {
      lines.push('Other findings:');
      for (const c of more) lines.push(...formatCause(c, '  '));
    }
  } else if (r.causes.length) {
    lines.push('Findings (the VM booted anyway):');
    for (const c of r.causes) lines.push(...formatCause(c, '  '));
  }
  lines.push('Virtual disks:');
  lines.push(...formatDiskReports(r.preflight.disks).map((l) => `  ${l}`));
  lines.push(...formatBootNeeds(r.preflight));
  if (r.verdict !== 'OK' && r.consoleTail) {
    lines.push('Console (last lines):');
    lines.push(
      ...r.consoleTail
        .split('\n')
        .slice(-15)
        .map((l) => `  | ${l}`),
    );
  }
  const last = r.tries[r.tries.length - 1];
  if (r.keptDomain)
    lines.push(`Test VM kept for inspection: domid ${r.keptDomain.domid} (${r.keptDomain.name})`);
  else if (last?.destroyed) lines.push(`Test VM destroyed (domid ${last.domid})`);
  const th = r.tries.find((t) => t.times.hardwareCreationMs !== undefined)?.times.hardwareCreationMs;
  if (th !== undefined) lines.push(`Virtual Hardware Creation Time : ${s(th)}`);
  // Names, paths, xenstore values and console lines come from outside: util/printable.ts.
  return printableLines(lines);
}

/** What the guest's fstab and grub config make the boot need, in one or two lines. */
function formatBootNeeds(pre: PreflightResult): string[] {
  const needs = pre.bootNeeds;
  if (!needs || (needs.neededDisks.length === 0 && !needs.grubKernel)) return [];
  const root = needs.root ? `${needs.root.vdev}${needs.root.partition ?? ''}` : undefined;
  const out = [
    `  boot needs: ${needs.neededDisks.join(', ') || 'no disk found'}${root ? ` (root on ${root})` : ''}`,
  ];
  if (needs.grubKernel) out.push(`  ${pre.pvBootloader ?? 'pygrub'} boots: ${needs.grubKernel}`);
  return out;
}

export function formatInspectReport(r: InspectReport): string {
  const lines: string[] = [];
  const { spec } = r;
  lines.push(`${r.vm.configPath}: ${r.verdict === 'OK' ? 'OK (no fault predicted)' : 'FAULT PREDICTED'}`);
  lines.push(
    `  VM ${spec.name}: kernel ${spec.kernel ?? spec.bootloader ?? '?'}, ramdisk ${spec.ramdisk ?? 'none'}, root ${spec.rootDevice ?? '?'}`,
  );
  if (spec.disks.length === 0) lines.push('  no disk configured');
  lines.push(...formatDiskReports(r.preflight.disks).map((l) => `  ${l}`));
  lines.push(...formatBootNeeds(r.preflight));
  if (r.preflight.pvBootloader)
    lines.push("  kernel = is GRUB 2 for Xen (pvgrub): it boots the kernel the guest's grub.cfg names");
  const k = r.preflight.kernel;
  if (k)
    lines.push(
      `  kernel: ${k.verdict}${k.problems.length ? ` (${k.problems.map((p) => p.code).join(', ')})` : ''}`,
    );
  const predicted = r.causes.filter((c) => c.confidence >= 0.5);
  const minor = r.causes.filter((c) => c.confidence < 0.5);
  if (predicted.length) {
    lines.push('Predicted cause:');
    for (const c of predicted) lines.push(...formatCause(c, '  '));
  }
  if (minor.length) {
    lines.push('Also noticed:');
    for (const c of minor) lines.push(...formatCause(c, '  '));
  }
  lines.push(`  (preflight took ${r.preflight.elapsedMs.toFixed(1)} ms)`);
  // Names, paths, xenstore values and console lines come from outside: util/printable.ts.
  return printableLines(lines);
}

export function formatDiagnoseReport(log: string, r: DiagnoseReport): string {
  const lines: string[] = [];
  const verdict =
    r.verdict === 'FAILED'
      ? 'BOOT FAILED'
      : r.verdict === 'BOOTED'
        ? 'BOOTED'
        : 'NO VERDICT (no failure and no login prompt seen)';
  lines.push(`${log}: ${verdict}  (${r.lines} lines)`);
  if (r.decidedBy)
    lines.push(
      `  decided by line ${r.decidedBy.lineNumber} (${r.decidedBy.ruleId}): ${oneLine(r.decidedBy.line)}`,
    );
  if (r.causes.length) {
    lines.push(r.verdict === 'FAILED' ? 'Cause:' : 'Evidence of a problem:');
    for (const c of r.causes) lines.push(...formatCause(c, '  '));
  }
  return printableLines(lines);
}
