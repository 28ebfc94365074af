/**
 * VM Console Monitor (paper module 5): follows the guest console from its first
 * byte and reports rule matches. Console output is hostile input: the matcher
 * sanitises it and bounds what it keeps.
 */
import type { Signal } from '../driver/signals.js';

export type ConsoleSeverity = 'fatal' | 'evidence' | 'progress' | 'success' | 'benign';

export interface ConsoleMatch {
  ruleId: string;
  severity: ConsoleSeverity;
  /** The paper fault the rule points at, if any. */
  fault?: string;
  /** The severity instead when the VM has a ramdisk that may load the missing driver later. */
  withRamdisk?: ConsoleSeverity;
  /** A cue the detector cross-checks with the hypervisor's view (root-wait). */
  cue?: string;
  category?: string;
  message?: string;
  remedy?: string;
  line: string;
  at: number;
  captures: Record<string, string>;
}

/**
 * A match's severity for this VM: a rule's `withRamdisk` applies when the VM
 * has a ramdisk that may still load the driver the kernel lacks.
 */
export function severityFor(m: ConsoleMatch, ramdiskMayLoadDrivers: boolean): ConsoleSeverity {
  return ramdiskMayLoadDrivers && m.withRamdisk ? m.withRamdisk : m.severity;
}

/** What the engine needs from a console matcher (see src/analysis/console/). */
export interface ConsoleMatcherLike {
  feed(chunk: Buffer | string, at: number): ConsoleMatch[];
  /** The sanitised tail of the console log, for reports. */
  tail(): string;
}

export class VmConsoleMonitor {
  readonly matches: ConsoleMatch[] = [];
  #firstOutputAt: number | undefined;

  constructor(private readonly matcher: ConsoleMatcherLike) {}

  get firstOutputAt(): number | undefined {
    return this.#firstOutputAt;
  }

  apply(signal: Signal): ConsoleMatch[] {
    if (signal.source !== 'con') return [];
    this.#firstOutputAt ??= signal.at;
    const found = this.matcher.feed(signal.text, signal.at);
    this.matches.push(...found);
    return found;
  }

  log(): string {
    return this.matcher.tail();
  }
}
