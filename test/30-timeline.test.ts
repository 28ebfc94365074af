import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { recordBoot } from '../src/driver/recorder.js';
import { ReplayDriver } from '../src/driver/replay-driver.js';
import { formatTimeline, parseTimeline } from '../src/driver/timeline.js';
import { SCENARIOS } from './support/timelines.js';

const dir = path.resolve('test/fixtures/timelines');

describe('timeline files', () => {
  it('every fixture parses, and formatting then parsing gives the same signals', async () => {
    const files = (await readdir(dir)).filter((f) => f.endsWith('.timeline'));
    expect(files.length).toBeGreaterThanOrEqual(10);
    for (const f of files) {
      const signals = parseTimeline(await readFile(path.join(dir, f), 'utf8'), f);
      expect(signals.length, f).toBeGreaterThan(0);
      expect(parseTimeline(formatTimeline(signals), f)).toEqual(signals);
    }
  });

  it('hostile console text stays escaped in the file and round-trips byte for byte', () => {
    const text = '\u001b[31mred\u001b[0m\u0000\r\n\u0007bell "quoted" \\ back\u00ff';
    const file = formatTimeline([{ at: 1500, source: 'con', text }]);
    const controls = [...file].filter(
      (c) => c !== '\n' && (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f),
    );
    expect(controls).toEqual([]);
    expect(file.trim().split('\n')).toHaveLength(1);
    expect(parseTimeline(file)).toEqual([{ at: 1500, source: 'con', text }]);
  });

  it.each([
    ['1.0 xs /a unquoted', 'expected a JSON string'],
    ['x xl created 1', 'expected "<seconds> <source> <key> <value>"'],
    ['1.0 vbd 51712/bogus 1', 'unknown VBD counter'],
    ['1.0 dom state flying', 'unknown domain flag'],
    ['1.0 smoke signal "x"', 'unknown source'],
  ])('rejects %j with file:line', (line, message) => {
    expect(() => parseTimeline(`# header\n${line}\n`, 'bad.timeline')).toThrow(`bad.timeline:2: ${message}`);
  });
});

describe('recorder through the replay driver', () => {
  it('records a normal boot up to login: and stops', async () => {
    const driver = await ReplayDriver.fromFiles([path.join(dir, 'normal.timeline')]);
    const rec = await recordBoot(driver, '/etc/xen/guest.cfg', 'guest', { untilMs: 120_000, afterEndMs: 0 });
    expect(rec.endedBy).toBe('login');
    expect(rec.created).toEqual({ domid: 1, name: 'guest' });
    expect(rec.signals.at(-1)).toEqual({ at: 16_169, source: 'con', text: '\rdomu login: ' });
  });

  it('records a crash (UVKE) and a create failure', async () => {
    const uvke = await ReplayDriver.fromFiles([path.join(dir, 'uvke.timeline')]);
    expect((await recordBoot(uvke, 'c', 'g', { untilMs: 120_000 })).endedBy).toBe('crash');
    const notPv = await ReplayDriver.fromFiles([path.join(dir, 'not-pv-kernel.timeline')]);
    expect((await recordBoot(notPv, 'c', 'g', { untilMs: 120_000 })).endedBy).toBe('create-failed');
  });

  it('stops at the time limit when nothing decides', async () => {
    const driver = new ReplayDriver({ tries: [SCENARIOS.silentHang()] });
    const rec = await recordBoot(driver, 'c', 'g', { untilMs: 60_000 });
    expect(rec.endedBy).toBe('time-limit');
  });
});
