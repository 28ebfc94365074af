/**
 * npm run fuzz: property-based fuzzing (fast-check) of the three targets in targets.ts, for FUZZ_SECONDS
 * (default 60) split between them. Inputs are random strings and mutations of the seeds (inserted,
 * deleted and duplicated slices, control bytes, quotes, backslashes). A failure prints the shrunk input
 * and exits 1.
 *
 * Why not Jazzer.js (coverage-guided): @jazzer.js/fuzzer 4.0.0 ships only prebuilt binaries, linked
 * against glibc 2.38 (Debian 12 has 2.36: "GLIBC_2.38 not found"), and its npm package has no C++
 * sources to build from; older versions download their binary from GitHub at install time.
 */
import fc from 'fast-check';
import { SPICE, bootFilesTarget, consoleTarget, rulesTarget, seeds, xlConfigTarget } from './targets.js';

const seconds = Number(process.env.FUZZ_SECONDS ?? 60);
if (!(seconds > 0)) throw new Error(`FUZZ_SECONDS must be > 0, got ${process.env.FUZZ_SECONDS}`);
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const corpus = seeds();

/** A seed with a few random edits. */
function mutated(pool: string[]): fc.Arbitrary<string> {
  const edit = fc.tuple(
    fc.nat(),
    fc.nat({ max: 64 }),
    fc.oneof(fc.constantFrom(...SPICE), fc.string({ maxLength: 16 })),
  );
  return fc.tuple(fc.constantFrom(...pool), fc.array(edit, { maxLength: 8 })).map(([base, edits]) => {
    let s = base;
    for (const [at, cut, insert] of edits) {
      const i = s.length === 0 ? 0 : at % (s.length + 1);
      s = s.slice(0, i) + insert + s.slice(i + cut);
    }
    return s;
  });
}

const input = (pool: string[]) =>
  fc.oneof(
    { weight: 4, arbitrary: mutated(pool) },
    { weight: 1, arbitrary: fc.string({ maxLength: 2048, unit: 'binary' }) },
  );

const targets: [string, fc.IPropertyWithHooks<[never]> | fc.IProperty<[never]>][] = [
  ['xl config parser', fc.property(input(corpus.xl), xlConfigTarget) as never],
  ['rules loader', fc.property(input(corpus.rules), rulesTarget) as never],
  ['guest boot files', fc.property(input(corpus.bootFiles), bootFilesTarget) as never],
  [
    'console matcher',
    fc.property(
      fc.record({ text: input(corpus.console), chunk: fc.integer({ min: 1, max: 4096 }) }),
      consoleTarget,
    ) as never,
  ],
];

let failed = false;
for (const [name, property] of targets) {
  const started = performance.now();
  const result = fc.check(property, {
    seed,
    numRuns: Number.MAX_SAFE_INTEGER,
    interruptAfterTimeLimit: (seconds * 1000) / targets.length,
    markInterruptAsFailure: false,
  });
  const s = ((performance.now() - started) / 1000).toFixed(1);
  if (result.failed) {
    failed = true;
    console.log(
      `fuzz: ${name}: FAILED after ${result.numRuns} inputs (seed ${seed}, path ${result.counterexamplePath})`,
    );
    console.log(`  input: ${JSON.stringify(result.counterexample)?.slice(0, 2000)}`);
    console.log(`  error: ${String(result.errorInstance)}`);
  } else {
    console.log(`fuzz: ${name}: ${result.numRuns} inputs in ${s} s, no failure (seed ${seed})`);
  }
}
process.exitCode = failed ? 1 : 0;
