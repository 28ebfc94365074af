/** Shared by the hostile-input suite: the CLI as a child, FIFOs, and releasing a reader stuck on one. */
import { spawnSync } from 'node:child_process';
import { constants, closeSync, openSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../../..');

/** The CLI in a child with a hard time limit: a hang shows as `timedOut`, not as a stuck test run. */
export function cli(args: string[], timeoutMs = 30_000) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    cwd: ROOT,
    env: { ...process.env, XENSTORED_PATH: path.join(os.tmpdir(), 'vmbootfail-no-such-xenstored') },
  });
  return { code: r.status, out: r.stdout, err: r.stderr, timedOut: r.signal !== null };
}

/** A script of this suite in a child (tsx), for code that could block the JS thread for ever. */
export function child(script: string, args: string[], timeoutMs = 20_000) {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', path.join(import.meta.dirname, script), ...args],
    {
      encoding: 'utf8',
      timeout: timeoutMs,
      cwd: ROOT,
    },
  );
  return { code: r.status, out: r.stdout, err: r.stderr, timedOut: r.signal !== null };
}

export function mkfifo(file: string): void {
  const r = spawnSync('mkfifo', [file]);
  if (r.status !== 0) throw new Error(`mkfifo ${file}: ${r.stderr}`);
}

/** Opens the FIFO for writing without blocking, which releases any reader stuck in open(). */
export function releaseFifo(file: string): void {
  try {
    closeSync(openSync(file, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // no reader was waiting
  }
}
