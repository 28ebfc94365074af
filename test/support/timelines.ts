/**
 * The timelines recorded on the real Xen testbed (test/fixtures/timelines,
 * testbed/run.sh --update-fixtures), and scenarios the testbed cannot stage on
 * purpose (a panic nobody names, a hang, the VM destroyed by someone else,
 * xenstored dying) derived from a real recording: its signals up to a cut,
 * then the ending.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Signal } from '../../src/driver/signals.js';
import { parseTimeline } from '../../src/driver/timeline.js';

export const RECORDED_DIR = path.resolve('test/fixtures/timelines');

export function recordedCases(): string[] {
  return readdirSync(RECORDED_DIR)
    .filter((f) => f.endsWith('.timeline'))
    .map((f) => f.replace(/\.timeline$/, ''))
    .sort();
}

export function recorded(name: string): Signal[] {
  const file = path.join(RECORDED_DIR, `${name}.timeline`);
  return parseTimeline(readFileSync(file, 'utf8'), file);
}

/** `name`'s signals before `cutSeconds`, then `ending` (timeline lines). */
export function derived(name: string, cutSeconds: number, ending: string): Signal[] {
  const before = recorded(name).filter((s) => s.at < cutSeconds * 1000);
  return [...before, ...parseTimeline(ending, `${name} + ending`)];
}

/** The domid a recording's `xl created` names. */
export function domidOf(signals: Signal[]): number | undefined {
  for (const s of signals) if (s.source === 'xl' && s.event === 'created') return s.domid;
  return undefined;
}

/** Cuts of the normal boot after it read the partition table (14.1 s), before its root was mounted (15.4 s). */
export const SCENARIOS = {
  unknownPanic: () =>
    derived(
      'normal',
      14.5,
      [
        '14.600 con text "[    6.900000] Run /sbin/init as init process\\r\\n"',
        '14.800 con text "[    7.100000] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\\r\\n"',
        '14.900 dom state shutdown,crashed',
      ].join('\n'),
    ),
  silentHang: () => derived('normal', 14.5, '14.500 dom state blocked'),
  destroyedByOther: () => derived('normal', 12, '12.500 dom gone -'),
  xenstoredDies: () =>
    derived('normal', 9, '9.000 fault xenstored "xenstored stopped answering: xs_read: Bad file descriptor"'),
};
