/**
 * Coverage-guided fuzzing of the three targets in targets.ts: an input that makes the
 * code run a block it never ran before joins the corpus, and new inputs are mutations of
 * the corpus (AFL's loop). Coverage is V8's own precise block coverage, read through the
 * inspector after every input, limited to the project's src/ files.
 *
 * Written here because no coverage-guided fuzzer for JavaScript installs on these hosts
 * from the npm registry alone: Jazzer.js 4 ships only binaries linked against glibc 2.38
 * (Debian 12 has 2.36) and no sources; jsfuzz instruments CommonJS through require hooks
 * and cannot see ES modules. Mutation and scheduling are deliberately simple.
 *
 *   FUZZ_SECONDS (default 60, split between the targets), FUZZ_SEED, FUZZ_FAILURES (a
 *   directory for failing inputs, default none). Exit 1 on any crash or hang.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { SPICE, bootFilesTarget, consoleTarget, rulesTarget, seeds, xlConfigTarget } from './targets.js';

const seconds = Number(process.env.FUZZ_SECONDS ?? 60);
if (!(seconds > 0)) throw new Error(`FUZZ_SECONDS must be > 0, got ${process.env.FUZZ_SECONDS}`);
let state = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31) >>> 0 || 1;
const seedShown = state;
const failuresDir = process.env.FUZZ_FAILURES;

/** xorshift32: a run is replayed by its seed. */
function rand(n: number): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) % Math.max(1, n);
}

function mutate(corpus: string[]): string {
  let s = corpus[rand(corpus.length)] ?? '';
  for (let n = 1 + rand(6); n > 0; n--) {
    const at = rand(s.length + 1);
    switch (rand(5)) {
      case 0:
        s = s.slice(0, at) + (SPICE[rand(SPICE.length)] ?? '') + s.slice(at);
        break;
      case 1:
        s = s.slice(0, at) + s.slice(at + 1 + rand(32));
        break;
      case 2: {
        const len = 1 + rand(64);
        s = s.slice(0, at) + s.slice(at, at + len) + s.slice(at);
        break;
      }
      case 3: {
        const other = corpus[rand(corpus.length)] ?? '';
        const from = rand(other.length + 1);
        s = s.slice(0, at) + other.slice(from, from + 1 + rand(128)) + s.slice(at);
        break;
      }
      default:
        s = s.slice(0, at) + String.fromCharCode(rand(256)) + s.slice(at + 1);
    }
  }
  return s.slice(0, 16384);
}

interface Coverage {
  covered: Set<string>;
  known: Set<string>;
}

const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });

/** Blocks of src/ that ran since the last call (call counts reset on every take). */
async function ranBlocks(cov: Coverage): Promise<string[]> {
  const { result } = await session.post('Profiler.takePreciseCoverage');
  const fresh: string[] = [];
  for (const script of result) {
    if (!script.url.includes('/src/')) continue;
    const file = path.basename(script.url);
    for (const fn of script.functions)
      for (const r of fn.ranges) {
        const key = `${file}:${r.startOffset}-${r.endOffset}`;
        cov.known.add(key);
        if (r.count > 0 && !cov.covered.has(key)) {
          cov.covered.add(key);
          fresh.push(key);
        }
      }
  }
  return fresh;
}

const corpora = seeds();
const targets: [string, string[], (input: string) => void][] = [
  ['xl config parser', corpora.xl, xlConfigTarget],
  ['rules loader', corpora.rules, rulesTarget],
  ['guest boot files', corpora.bootFiles, bootFilesTarget],
  ['console matcher', corpora.console, (text) => consoleTarget({ text, chunk: 1 + (text.length % 97) })],
];

let failed = false;
for (const [name, seedInputs, target] of targets) {
  const cov: Coverage = { covered: new Set(), known: new Set() };
  const corpus = [...seedInputs];
  await ranBlocks(cov); // what loading did is not the target's
  cov.covered.clear();
  for (const s of corpus) {
    try {
      target(s);
    } catch {}
    await ranBlocks(cov);
  }
  const fromSeeds = cov.covered.size;
  const deadline = performance.now() + (seconds * 1000) / targets.length;
  let execs = 0;
  let crashes = 0;
  while (performance.now() < deadline) {
    const input = mutate(corpus);
    execs++;
    try {
      target(input);
    } catch (error) {
      crashes++;
      failed = true;
      if (crashes <= 3)
        console.log(
          `fuzz(guided): ${name}: ${String(error).slice(0, 300)}\n  input: ${JSON.stringify(input).slice(0, 400)}`,
        );
      if (failuresDir) {
        mkdirSync(failuresDir, { recursive: true });
        writeFileSync(path.join(failuresDir, `${name.replace(/\W+/g, '-')}-${execs}.txt`), input);
      }
    }
    if ((await ranBlocks(cov)).length > 0) corpus.push(input);
  }
  const pct = ((100 * cov.covered.size) / Math.max(1, cov.known.size)).toFixed(1);
  console.log(
    `fuzz(guided): ${name}: ${execs} inputs, ${crashes} crashes or hangs, corpus ${seedInputs.length} -> ${corpus.length}, blocks covered ${fromSeeds} by the seeds -> ${cov.covered.size} of ${cov.known.size} seen (${pct} %) (seed ${seedShown})`,
  );
}
await session.post('Profiler.stopPreciseCoverage');
session.disconnect();
process.exitCode = failed ? 1 : 0;
