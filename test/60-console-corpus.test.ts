/**
 * The default console rules against a corpus of real console logs from public
 * threads (test/fixtures/consoles, see INDEX.md): each file's header names the
 * cause the thread settled on. Over the failing logs of the paper's four
 * families the top cause must be the right family on at least 76 % of them (issue 9 asks
 * 90 %; measured 2026-12-02 on the console alone: 70 of 84 with fixtures 001-155; the floor
 * stays below that while fixtures are being added), and
 * no healthy boot may be called FAILED. Logs labelled OTHER are reported only.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULES_FILE, parseRules } from '../src/analysis/console/rules.js';
import { type DiagnoseReport, diagnoseConsole } from '../src/analysis/diagnose.js';

// Loaded the way test/support/console.ts loads them: the shipped default rules.
const rules = parseRules(readFileSync(DEFAULT_RULES_FILE, 'utf8'), DEFAULT_RULES_FILE).rules;

const DIR = path.join(import.meta.dirname, 'fixtures', 'consoles');
const FAMILIES = ['VMCE', 'UVDE', 'DIDF', 'UVKE'] as const;
type Label = (typeof FAMILIES)[number] | 'OTHER' | 'OK';

interface Fixture {
  file: string;
  label: Label;
  body: string;
}

function loadFixture(file: string): Fixture {
  const text = readFileSync(path.join(DIR, file), 'utf8');
  const lines = text.split('\n');
  const sep = lines.indexOf('---');
  if (sep < 0) throw new Error(`${file}: no '---' line after the header`);
  const header = lines.slice(0, sep).join('\n');
  const label = /^# settled-cause:\s*(VMCE|UVDE|DIDF|UVKE|OTHER|OK)\b/m.exec(header)?.[1] as
    | Label
    | undefined;
  if (!label) throw new Error(`${file}: no settled-cause in the header`);
  return { file, label, body: lines.slice(sep + 1).join('\n') };
}

const fixtures = readdirSync(DIR)
  .filter((f) => f.endsWith('.txt'))
  .sort()
  .map(loadFixture);

interface Row {
  file: string;
  label: Label;
  verdict: DiagnoseReport['verdict'];
  top: string;
  decidedBy: string;
  ok: boolean;
}

const rows: Row[] = fixtures.map(({ file, label, body }) => {
  const report = diagnoseConsole(body, rules);
  const top = report.causes[0]?.paperFault ?? '-';
  const ok =
    label === 'OK'
      ? report.verdict !== 'FAILED'
      : label === 'OTHER'
        ? true
        : report.verdict !== 'BOOTED' && top === label;
  return { file, label, verdict: report.verdict, top, decidedBy: report.decidedBy?.ruleId ?? '-', ok };
});

function table(list: Row[]): string {
  const w = Math.max(...list.map((r) => r.file.length), 4);
  return list
    .map(
      (r) =>
        `${r.file.padEnd(w)}  ${r.label.padEnd(5)}  ${r.verdict.padEnd(10)}  ${r.top.padEnd(7)}  ${r.decidedBy}`,
    )
    .join('\n');
}

describe('console corpus (test/fixtures/consoles)', () => {
  it('has labelled fixtures of every family', () => {
    for (const f of FAMILIES)
      expect(
        fixtures.some((x) => x.label === f),
        f,
      ).toBe(true);
    expect(fixtures.some((x) => x.label === 'OK')).toBe(true);
  });

  it('names the right family for at least 76 % of the failing logs (a floor: issue 9 wants 90 %)', () => {
    const counted = rows.filter((r) => (FAMILIES as readonly string[]).includes(r.label));
    const hits = counted.filter((r) => r.ok);
    const perFamily = FAMILIES.map((f) => {
      const of = counted.filter((r) => r.label === f);
      return `${f} ${of.filter((r) => r.ok).length}/${of.length}`;
    }).join(', ');
    const misses = counted.filter((r) => !r.ok);
    const missTable = misses.length
      ? `\nmisses (file, label, verdict, top cause, decided by):\n${table(misses)}`
      : '';
    console.log(`console corpus: ${hits.length}/${counted.length} right (${perFamily})${missTable}`);
    expect(hits.length / counted.length).toBeGreaterThanOrEqual(0.76);
  });

  it('never calls a healthy boot FAILED', () => {
    const alarms = rows.filter((r) => r.label === 'OK' && !r.ok);
    if (alarms.length) console.log(`false alarms:\n${table(alarms)}`);
    expect(alarms).toEqual([]);
  });

  it('reports the logs labelled OTHER (not counted)', () => {
    const other = rows.filter((r) => r.label === 'OTHER');
    console.log(`OTHER (reported, not counted):\n${table(other)}`);
    expect(other.length).toBeGreaterThan(0);
  });
});
