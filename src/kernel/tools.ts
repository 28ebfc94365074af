/** Finding and running external helpers (decompressors, readnotes, lsinitramfs) without a shell. */

import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readdir } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import type { Readable } from 'node:stream';

/** sbin directories are added because lsinitramfs lives in /usr/sbin, which a non-root PATH often lacks. */
const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function defaultToolDirs(): string[] {
  const fromEnv = (process.env.PATH ?? '').split(delimiter).filter((dir) => isAbsolute(dir));
  return [...new Set([...fromEnv, ...SYSTEM_DIRS])];
}

export async function findTool(name: string, dirs: readonly string[]): Promise<string | undefined> {
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** xen-utils-<version> installs readnotes under /usr/lib/xen-<version>/bin; prefer the newest. */
export async function findReadnotes(libDir = '/usr/lib'): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(libDir);
  } catch {
    return undefined;
  }
  const xenDirs = names
    .filter((name) => /^xen-\d+(\.\d+)*$/.test(name))
    .sort((a, b) => b.localeCompare(a, undefined, { numeric: true }));
  for (const dir of xenDirs) {
    const found = await findTool('readnotes', [join(libDir, dir, 'bin')]);
    if (found) return found;
  }
  return undefined;
}

export interface ToolRun {
  /** Exit code; null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** First 4 KiB of stderr. */
  stderr: string;
  /** The consumer asked to stop before the tool finished. */
  stoppedEarly: boolean;
  timedOut: boolean;
  /** spawn itself failed (ENOENT, EACCES, ...). */
  spawnError?: Error;
}

const STDERR_CAP = 4096;

/**
 * Runs `tool args` (no shell), feeding `input` to stdin and each stdout chunk to `onChunk`.
 * `onChunk` returning false stops the tool: callers use it for size caps.
 */
export async function runTool(
  tool: string,
  args: readonly string[],
  input: Readable | Buffer | null,
  onChunk: (chunk: Buffer) => boolean,
  timeoutMs: number,
): Promise<ToolRun> {
  const child = spawn(tool, args, { stdio: ['pipe', 'pipe', 'pipe'], shell: false });
  let stderr = '';
  let stoppedEarly = false;
  let timedOut = false;
  let spawnError: Error | undefined;

  const finished = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (error) => {
      spawnError = error;
      resolve({ code: null, signal: null });
    });
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  child.stderr.on('data', (data: Buffer) => {
    if (stderr.length < STDERR_CAP) stderr += data.toString('utf8').slice(0, STDERR_CAP - stderr.length);
  });
  // EPIPE is expected when we stop the tool early or it rejects its input.
  child.stdin.on('error', () => {});
  if (Buffer.isBuffer(input)) {
    child.stdin.end(input);
  } else if (input) {
    input.on('error', () => child.stdin.destroy());
    input.pipe(child.stdin);
  } else {
    child.stdin.end();
  }

  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  try {
    for await (const chunk of child.stdout) {
      if (!onChunk(chunk as Buffer)) {
        stoppedEarly = true;
        child.kill('SIGKILL');
        break;
      }
    }
  } catch {
    // stdout errors surface as a non-zero exit below
  }
  const { code, signal } = await finished;
  clearTimeout(timer);
  if (input && !Buffer.isBuffer(input)) input.destroy();
  const run: ToolRun = { code, signal, stderr: stderr.trim(), stoppedEarly, timedOut };
  if (spawnError) run.spawnError = spawnError;
  return run;
}
