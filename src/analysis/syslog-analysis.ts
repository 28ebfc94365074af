/** SysLog Analysis (paper module 9): console rule matches as causes. */
import { type ConsoleMatch, severityFor } from '../monitor/vm-console-monitor.js';
import { type Cause, type CauseCode, PAPER_FAULT } from './evidence.js';

const FAULT_TO_CAUSE: Record<string, CauseCode> = {
  VMCE: 'VMCE',
  UVDE: 'UVDE',
  DIDF: 'DIDF',
  UVKE: 'UVKE',
  UNKNOWN_KERNEL: 'UNKNOWN_KERNEL',
};

export function analyseConsole(matches: ConsoleMatch[], ramdiskMayLoadDrivers = false): Cause[] {
  const causes: Cause[] = [];
  for (const m of matches) {
    const severity = severityFor(m, ramdiskMayLoadDrivers);
    if (severity !== 'fatal' && severity !== 'evidence') continue;
    const code = m.fault ? FAULT_TO_CAUSE[m.fault] : undefined;
    if (!code) continue;
    causes.push({
      code,
      paperFault: PAPER_FAULT[code],
      title: m.message ?? m.ruleId,
      // A console line points at a family of causes; the hypervisor and the disk decide which.
      confidence: severity === 'fatal' ? 0.6 : 0.4,
      evidence: [{ source: 'console', at: m.at, detail: `rule ${m.ruleId}`, value: m.line }],
      ...(m.remedy ? { remedy: m.remedy } : {}),
    });
  }
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
