/** Timing helpers for side-by-side benchmarks: same run, same machine, ratios. */

export interface Timing {
  label: string;
  runs: number;
  medianMs: number;
  p90Ms: number;
  meanMs: number;
}

export async function time(
  label: string,
  runs: number,
  body: () => Promise<unknown> | unknown,
): Promise<Timing> {
  await body(); // warm-up: page cache, dlopen, first connection
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await body();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) =>
    samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? Number.NaN;
  return {
    label,
    runs,
    medianMs: at(0.5),
    p90Ms: at(0.9),
    meanMs: samples.reduce((a, b) => a + b, 0) / samples.length,
  };
}

export function table(title: string, rows: { ours: Timing; theirs?: Timing }[]): string {
  const lines = [
    `\n## ${title}`,
    '| operation | runs | median ms | p90 ms | vs | median ms | ratio |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const { ours, theirs } of rows) {
    const ratio = theirs ? `${(theirs.medianMs / ours.medianMs).toFixed(1)}x faster` : '';
    lines.push(
      `| ${ours.label} | ${ours.runs} | ${ours.medianMs.toFixed(3)} | ${ours.p90Ms.toFixed(3)} | ${theirs?.label ?? ''} | ${theirs ? theirs.medianMs.toFixed(3) : ''} | ${ratio} |`,
    );
  }
  return lines.join('\n');
}
