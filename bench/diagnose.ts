/** `diagnose` on a large saved console log, against grep -E over the same file with the rules' patterns. */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
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
  const rows = [
    {
      ours: await time(
        `diagnose, ${(text.length / 1024 / 1024).toFixed(1)} MB console log`,
        Math.min(runs, 5),
        () => diagnoseLog(log),
      ),
      theirs: await time('grep -E -c for one pattern over the same file', Math.min(runs, 5), () =>
        run('grep', ['-E', '-c', 'Gave up waiting for root', log]).catch(() => undefined),
      ),
    },
  ];
  return table('Diagnosing a saved console log', rows);
}
