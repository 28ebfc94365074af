/**
 * Issue 10, item 19: a console fed in 64-byte chunks costs linear time. The pending partial line (up to
 * 4 KiB) used to be matched again on every chunk: 4 s of CPU per 10 MB.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ConsoleMatcher } from '../../src/analysis/console/matcher.js';
import { type ConsoleRule, loadRules } from '../../src/analysis/console/rules.js';

let rules: ConsoleRule[];
beforeAll(async () => {
  rules = (await loadRules()).rules;
});

/** CPU ms to feed `text` in `chunk`-byte pieces, at 1 MB of console per second (inside the budget). */
function cpuMs(text: string, chunk: number): number {
  const m = new ConsoleMatcher(rules, { matchBytesPerSecond: 1e9, matchBurstBytes: 1e9 });
  const start = process.cpuUsage();
  for (let i = 0; i < text.length; i += chunk) m.feed(text.slice(i, i + chunk), Math.floor(i / 1000));
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

describe('console matching cost', () => {
  it('10 MB of long lines in 64-byte chunks: well under a second of CPU', { timeout: 60_000 }, () => {
    // 10 MB: lines of 100 000 characters (cut at 4096), the worst case for the pending line.
    const line = `${'[    1.000000] '.padEnd(100_000, 'x')}\n`;
    const text = line.repeat(Math.ceil(10e6 / line.length));
    const ms = cpuMs(text, 64);
    console.log(`matcher: ${ms.toFixed(0)} ms of CPU per 10 MB in 64-byte chunks (long lines)`);
    expect(ms).toBeLessThan(600);
  });

  it('a prompt split across small chunks is still matched once', () => {
    const m = new ConsoleMatcher(rules);
    const text = `${'x'.repeat(600)}\nBusyBox v1.35.0\n(initramfs) `;
    const ids = [];
    for (let i = 0; i < text.length; i += 3)
      ids.push(...m.feed(text.slice(i, i + 3), i).map((x) => x.ruleId));
    expect(ids).toEqual(['initramfs-shell-prompt']);
  });
});
