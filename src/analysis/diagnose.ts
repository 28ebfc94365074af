import { type ConsoleMatch, severityFor } from '../monitor/vm-console-monitor.js';
/**
 * Diagnosis of a saved console log (xenconsoled's guest log, `xl console`
 * output, a cloud provider's console output): the engine's console rules and
 * syslog analysis on a finished boot, optionally with what the preflight proved
 * about the VM's config, disks and kernel. Runs anywhere, without Xen.
 */
import { ConsoleMatcher } from './console/matcher.js';
import type { ConsoleRule } from './console/rules.js';
import { type Cause, mergeCauses, rankCauses } from './evidence.js';
import { analyseConsole, unknownKernelProblem } from './syslog-analysis.js';

export type DiagnoseVerdict = 'BOOTED' | 'FAILED' | 'NO_VERDICT';

export interface DiagnoseOptions {
  /** Causes the preflight proved (inspectConfig on the VM's config and disks). */
  preflightCauses?: Cause[];
  /**
   * Whether the VM booted with a ramdisk that may load drivers the kernel lacks.
   * Unknown for a bare log: most distributions boot with one, so true by default.
   */
  ramdiskMayLoadDrivers?: boolean;
}

export interface DiagnoseReport {
  schemaVersion: 1;
  verdict: DiagnoseVerdict;
  /** What decided the verdict: the last decisive console line. */
  decidedBy?: { ruleId: string; line: string; lineNumber: number };
  /** Ranked, the first the one to fix first; empty when the log shows a boot. */
  causes: Cause[];
  /** The lines that count as evidence or decide, in order. */
  matches: { ruleId: string; severity: string; fault?: string; line: string; lineNumber: number }[];
  lines: number;
}

const CHUNK = 64 * 1024;

export function diagnoseConsole(
  text: string,
  rules: ConsoleRule[],
  options: DiagnoseOptions = {},
): DiagnoseReport {
  const ramdisk = options.ramdiskMayLoadDrivers ?? true;
  // A saved log is matched whole: no per-second budget (that guards a live guest's console).
  const matcher = new ConsoleMatcher(rules, { matchBurstBytes: Number.MAX_SAFE_INTEGER });
  const all: ConsoleMatch[] = [];
  // `at` is the line number, so evidence sorts and reports by where it is in the log: each line is
  // fed with its own number (a chunk of many lines would give them all the chunk's first number).
  let line = 0;
  for (let i = 0; i < text.length; ) {
    const nl = text.indexOf('\n', i);
    const end = nl < 0 ? Math.min(text.length, i + CHUNK) : Math.min(nl + 1, i + CHUNK);
    all.push(...matcher.feed(text.slice(i, end), line));
    if (text[end - 1] === '\n') line++;
    i = end;
  }
  if (!text.endsWith('\n')) all.push(...matcher.feed('\n', line));
  const lines = line + (text.endsWith('\n') || text.length === 0 ? 0 : 1);

  let verdict: DiagnoseVerdict = 'NO_VERDICT';
  let decidedBy: DiagnoseReport['decidedBy'];
  const counted: DiagnoseReport['matches'] = [];
  for (const m of all) {
    const severity = severityFor(m, ramdisk);
    if (severity === 'benign' || severity === 'progress') continue;
    counted.push({
      ruleId: m.ruleId,
      severity,
      ...(m.fault ? { fault: m.fault } : {}),
      line: m.line,
      lineNumber: m.at + 1,
    });
    if (severity === 'success') {
      verdict = 'BOOTED';
      decidedBy = { ruleId: m.ruleId, line: m.line, lineNumber: m.at + 1 };
    } else if (severity === 'fatal') {
      verdict = 'FAILED';
      decidedBy = { ruleId: m.ruleId, line: m.line, lineNumber: m.at + 1 };
    }
  }
  let causes: Cause[] = [];
  if (verdict !== 'BOOTED') {
    // Evidence from the failed part of the log only: what came before a later boot does not count.
    // `at` is a line number here, not a time: say it as one.
    const fromConsole = analyseConsole(all, ramdisk).map((c) => ({
      ...c,
      evidence: c.evidence.map(({ at, ...e }) =>
        at === undefined ? e : { ...e, detail: `line ${at + 1}, ${e.detail}` },
      ),
    }));
    causes = rankCauses(mergeCauses([...(options.preflightCauses ?? []), ...fromConsole]));
    if (verdict === 'FAILED' && !causes.some((c) => c.confidence >= 0.5))
      causes.push(unknownKernelProblem(matcher.tail(), decidedBy?.line ?? 'the boot failed'));
  }
  return {
    schemaVersion: 1,
    verdict,
    ...(decidedBy ? { decidedBy } : {}),
    causes,
    matches: counted,
    lines,
  };
}
