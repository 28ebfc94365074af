/**
 * Issue 10, items 4, 5, 11: user console rules run on a linear-time engine (RE2), so no pattern can hang
 * the matcher; a pattern RE2 cannot compile is refused with file:line:col; rules keep their order within
 * a file; invalid YAML is reported where it is.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleMatcher } from '../../src/analysis/console/matcher.js';
import { loadRules, parseRules } from '../../src/analysis/console/rules.js';
import { child } from './support/helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vmbf-hostile-rules-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const rule = (id: string, match: string, severity = 'fatal') =>
  [`  - id: ${id}`, `    severity: ${severity}`, '    category: OTHER', `    match: '${match}'`].join('\n');

async function rulesDir(name: string, body: string): Promise<string> {
  const d = path.join(dir, name);
  await mkdir(d);
  await writeFile(path.join(d, 'site.yaml'), `version: 1\nrules:\n${body}\n`);
  return d;
}

describe('user patterns cannot block the matcher', () => {
  it.each([
    ['((a+))+$', `${'a'.repeat(32)}!`],
    ['^(a|aa)+$', `${'a'.repeat(48)}!`],
    ['.*.*.*.*.*=X', 'b'.repeat(4000)],
  ])('%s on a short hostile line is matched in linear time', { timeout: 40_000 }, async (pattern, line) => {
    const d = await rulesDir(`redos-${pattern.replace(/\W/g, '_')}`, rule('evil', pattern));
    const r = child('match-child.ts', [d, line]);
    expect(r.timedOut, 'the matcher hung').toBe(false);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).ms).toBeLessThan(250);
  });

  it.each([
    ['(a)\\1', 'backreference'],
    ['foo(?=bar)', 'lookahead'],
    ['(?<!x)y', 'lookbehind'],
  ])('%s (%s) is refused with file:line:col', (pattern) => {
    const text = `version: 1\nrules:\n${rule('x', pattern)}\n`;
    expect(() => parseRules(text, 'site.yaml')).toThrow(
      /^site\.yaml:6:12: match is not a valid regular expression for RE2/,
    );
  });

  it('the default rules all compile on RE2 and still match their lines', async () => {
    const { rules } = await loadRules();
    expect(rules.length).toBeGreaterThan(30);
    const m = new ConsoleMatcher(rules);
    expect(m.feed('ALERT!  /dev/xvda1 does not exist.  Dropping to a shell!\n', 1)[0]).toMatchObject({
      ruleId: 'alert-root-does-not-exist',
      captures: { device: '/dev/xvda1' },
    });
  });

  it('matching is bounded per second of console: a flood is not matched beyond the budget', () => {
    const m = new ConsoleMatcher([], { matchBytesPerSecond: 1000, matchBurstBytes: 10_000 });
    for (let i = 0; i < 1000; i++) m.feed(`${'x'.repeat(99)}\n`, 0);
    expect(m.unmatchedLines).toBeGreaterThanOrEqual(899);
    const before = m.unmatchedLines;
    m.feed(`${'x'.repeat(99)}\n`, 60_000); // a minute later the budget is back
    expect(m.unmatchedLines).toBe(before);
  });
});

describe('rules keep their order within a file', () => {
  it('of two new rules that match the same line, the first in the file wins', async () => {
    const d = await rulesDir(
      'order',
      [
        rule('site-first', 'disk on fire'),
        rule('site-second', 'on fire'),
        rule('site-benign-1', 'harmless', 'benign'),
        rule('site-benign-2', 'harmless', 'benign'),
      ].join('\n'),
    );
    const { rules } = await loadRules({ userDir: d });
    const ids = rules.map((r) => r.id);
    expect(ids.indexOf('site-first')).toBeLessThan(ids.indexOf('site-second'));
    expect(ids.indexOf('site-benign-1')).toBe(0);
    expect(ids.indexOf('site-benign-2')).toBe(1);
    expect(new ConsoleMatcher(rules).feed('xvda: disk on fire\n', 0)[0]?.ruleId).toBe('site-first');
  });
});

describe('invalid YAML is reported where it is', () => {
  it.each([
    ['version: 1\nrules:\n  - id: x\n    severity: "fatal\n', /^bad\.yaml:([2-9]|\d\d+):\d+: not valid YAML/],
    ['version: 1\nrules:\n  - id: x\n   bad: [\n', /^bad\.yaml:([2-9]|\d\d+):\d+: not valid YAML/],
    ['version: 1\nversion: 1\n', /^bad\.yaml:2:1: not valid YAML/],
  ])('%j', (text, message) => {
    expect(() => parseRules(text, 'bad.yaml')).toThrow(message);
  });
});
