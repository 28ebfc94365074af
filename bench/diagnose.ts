/** `diagnose` on a large saved console log, against grep -P over the same file with every rule's pattern. */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadRules } from '../src/analysis/console/rules.js';
import { diagnoseLog } from '../src/api.js';
import { table, time } from './stats.js';

const run = promisify(execFile);
const FIXTURES = path.join(import.meta.dirname, '..', 'test', 'fixtures', 'consoles');

/** About 10 MB of real console lines (the corpus, repeated), ending in a failure. */
export async function benchDiagnose(dir: string, runs: number): Promise<string> {
  const bodies = readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.txt'))
    .map((f) => readFileSync(path.join(FIXTURES, f), 'utf8').split('\n---\n')[1] ?? '');
  const healthy = bodies.join('\n').replace(/.*(?:Gave up|ALERT!|emergency|panic|Dropping).*\n?/g, '');
  let text = '';
  while (text.length < 10 * 1024 * 1024) text += `${healthy}\n`;
  text += 'Gave up waiting for root file system device.  Common problems:\n';
  const log = path.join(dir, 'console-10MB.log');
  await writeFile(log, text);
  // The scripted alternative: PCRE grep with the same patterns (named groups made plain). It only counts
  // matching lines; it does not say which rule, nor weigh anything.
  const { rules } = await loadRules();
  const combined = rules
    .map((r) => `(?:${r.pattern.source.replace(/\(\?<[A-Za-z_]\w*>/g, '(?:')})`)
    .join('|');
  const rows = [
    {
      ours: await time(
        `diagnose, ${(text.length / 1024 / 1024).toFixed(1)} MB console log`,
        Math.min(runs, 5),
        () => diagnoseLog(log),
      ),
      theirs: await time(
        `grep -P -c, the ${rules.length} rule patterns as one, same file`,
        Math.min(runs, 5),
        () =>
          run('grep', ['-P', '-c', '-e', combined, log]).catch((e: { code?: number }) => {
            if (e.code !== 1) throw e; // 1: no line matched
          }),
      ),
    },
  ];
  return table('Diagnosing a saved console log', rows);
}
