/** Evidence and causes: what every verdict carries. */

export type EvidenceSource =
  | 'xl'
  | 'xenstore'
  | 'counters'
  | 'domain'
  | 'console'
  | 'inspector'
  | 'config'
  | 'kernel';

export interface Evidence {
  source: EvidenceSource;
  /** ms since `xl create` started; absent for preflight evidence. */
  at?: number;
  /** What was seen, in words. */
  detail: string;
  /** The raw value: xenstore path=value, console line, counter, finding code. */
  value?: string;
}

/** The paper's four faults, plus what real disks and hosts add. */
export type CauseCode =
  | 'VMCE' // VM configuration error: no disk line
  | 'UVDE' // unattached/empty loop device as the virtual disk
  | 'DIDF' // disk information damaged: partition table / superblock
  | 'UVKE' // unsuitable VM kernel: missing block frontend / root fs driver, or not a PV kernel
  | 'UNKNOWN_KERNEL' // boot failed for a reason no rule names; console attached
  | 'MISSING_IMAGE' // the disk's backing file or device does not exist
  | 'GPT_DAMAGED'
  | 'SUPERBLOCK_CHECKSUM'
  | 'HOTPLUG_ERROR';

/** Which of the paper's fault types a cause belongs to. */
export const PAPER_FAULT: Record<CauseCode, 'VMCE' | 'UVDE' | 'DIDF' | 'UVKE' | 'UNKNOWN'> = {
  VMCE: 'VMCE',
  UVDE: 'UVDE',
  DIDF: 'DIDF',
  UVKE: 'UVKE',
  UNKNOWN_KERNEL: 'UNKNOWN',
  MISSING_IMAGE: 'VMCE',
  GPT_DAMAGED: 'DIDF',
  SUPERBLOCK_CHECKSUM: 'DIDF',
  HOTPLUG_ERROR: 'UVDE',
};

export interface Cause {
  code: CauseCode;
  paperFault: (typeof PAPER_FAULT)[CauseCode];
  title: string;
  /** 0..1: how sure. Preflight alone < boot evidence alone < both. */
  confidence: number;
  /** The disk it is about (vdev, e.g. xvda), when it is about one. */
  disk?: string;
  evidence: Evidence[];
  /** A concrete fix: a command, a config line, a kernel option. */
  remedy?: string;
}

export function confidenceLabel(c: number): 'high' | 'medium' | 'low' {
  return c >= 0.8 ? 'high' : c >= 0.5 ? 'medium' : 'low';
}

/** Causes about the whole VM (its config or kernel), not about one of its disks. */
const VM_LEVEL: ReadonlySet<CauseCode> = new Set(['VMCE', 'UVKE', 'UNKNOWN_KERNEL']);

/**
 * Merges causes with the same code (and disk, for disk causes); evidence from
 * independent sources raises confidence, and identical evidence counts once.
 */
export function mergeCauses(causes: Cause[]): Cause[] {
  const byKey = new Map<string, Cause>();
  for (const c of causes) {
    const key = VM_LEVEL.has(c.code) ? c.code : `${c.code}\0${c.disk ?? ''}`;
    const prev = byKey.get(key);
    if (prev) absorb(prev, c);
    else byKey.set(key, { ...c, evidence: [...c.evidence] });
  }
  // A disk cause that names no disk (a console line) joins the one disk cause of its code, if only one.
  for (const [key, c] of byKey) {
    if (VM_LEVEL.has(c.code) || c.disk !== undefined) continue;
    const withDisk = [...byKey.values()].filter((o) => o.code === c.code && o.disk !== undefined);
    const [only] = withDisk;
    if (withDisk.length !== 1 || !only) continue;
    absorb(only, c);
    byKey.delete(key);
  }
  return rankCauses([...byKey.values()]);
}

/** Where a cause's evidence comes from: what dom0 proved (the preflight, xenstore, counters, xl) or only what the guest printed. */
function provenFromDom0(c: Cause): boolean {
  return c.evidence.some((e) => e.source !== 'console');
}

/**
 * The order a human expert would fix causes in: a cause proven from dom0 before
 * one only a console line suggests (a console line fits several causes), then by
 * confidence, then by code, so that the same facts always give the same order.
 */
export function rankCauses(causes: Cause[]): Cause[] {
  return [...causes].sort(
    (a, b) =>
      Number(provenFromDom0(b)) - Number(provenFromDom0(a)) ||
      b.confidence - a.confidence ||
      a.code.localeCompare(b.code) ||
      (a.disk ?? '').localeCompare(b.disk ?? ''),
  );
}

const evidenceKey = (e: Evidence) => `${e.source}\0${e.detail}\0${e.value ?? ''}`;

function absorb(into: Cause, c: Cause): void {
  const seen = new Set(into.evidence.map(evidenceKey));
  into.evidence.push(...c.evidence.filter((e) => !seen.has(evidenceKey(e))));
  if (into.confidence < c.confidence) into.title = c.title;
  // Independent confirmations: 1 - (1-a)(1-b).
  into.confidence = Math.min(0.99, 1 - (1 - into.confidence) * (1 - c.confidence));
  into.remedy ??= c.remedy;
}
