/** Starts a xenstore daemon for tests, as a child process that a test may kill. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type XenstoredKind = 'fake' | 'real';

export interface RunningXenstored {
  kind: XenstoredKind;
  socketPath: string;
  /** For child processes and process.env: where libxenstore connects. */
  env: Record<string, string>;
  pid: number;
  kill(signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
  introduce(domid: number): Promise<void>;
  release(domid: number): Promise<void>;
}

const here = path.dirname(fileURLToPath(import.meta.url));

/** The real C xenstored needs an LD_PRELOAD shim to run without a hypervisor; not built yet. */
export function realXenstoredAvailable(): { ok: boolean; reason?: string } {
  return {
    ok: false,
    reason:
      'the LD_PRELOAD shim for /usr/lib/xen-4.17/bin/xenstored is not in the project yet; the Xen testbed runs this suite against a real dom0',
  };
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => child.once('exit', () => r()));
}

export async function startXenstored(kind: XenstoredKind): Promise<RunningXenstored> {
  if (kind === 'real') throw new Error(realXenstoredAvailable().reason);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vmbf-xenstored-'));
  const socketPath = path.join(dir, 'socket');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(here, 'fake-xenstored.ts'), '--socket', socketPath],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('fake xenstored did not start within 20 s')), 20_000);
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`fake xenstored exited with ${code}`)));
  });
  const send = async (line: string) => {
    child.stdin?.write(`${line}\n`);
    await new Promise((r) => setTimeout(r, 20));
  };
  return {
    kind,
    socketPath,
    env: { XENSTORED_PATH: socketPath },
    pid: child.pid as number,
    async kill(signal = 'SIGKILL') {
      child.kill(signal);
      await exited(child);
    },
    async stop() {
      child.kill('SIGTERM');
      await exited(child);
      await rm(dir, { recursive: true, force: true });
    },
    introduce: (domid) => send(`introduce ${domid}`),
    release: (domid) => send(`release ${domid}`),
  };
}
