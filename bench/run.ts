/**
 * Prints, side by side in one run, in-process native calls against the
 * command-line tools an operator would otherwise script. Usage: npm run bench [-- --runs N]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freeLoopDevice } from '../test/support/loop-devices.js';
import { benchDiagnose } from './diagnose.js';
import { benchDisk } from './disk.js';
import { benchLatency } from './latency.js';
import { benchXenstat, benchXenstore } from './xen.js';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '50' }, only: { type: 'string', multiple: true } },
});
const only = new Set(values.only ?? ['disk', 'diagnose', 'xenstore', 'xenstat', 'latency']);
const runs = Number.parseInt(values.runs ?? '50', 10);
const dir = await mkdtemp(path.join(os.tmpdir(), 'vmbf-bench-'));
try {
  process.stdout.write(
    `# vmbootfail benchmark (${os.cpus().length} cores, node ${process.version}, ${runs} runs each)\n`,
  );
  if (only.has('disk')) process.stdout.write(`${await benchDisk(dir, runs)}\n`);
  if (only.has('diagnose')) process.stdout.write(`${await benchDiagnose(dir, runs)}\n`);
  if (only.has('xenstore')) process.stdout.write(`${await benchXenstore(runs)}\n`);
  if (only.has('xenstat')) process.stdout.write(`${await benchXenstat(dir, runs)}\n`);
  if (only.has('latency')) process.stdout.write(`${await benchLatency(dir, freeLoopDevice().device)}\n`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
