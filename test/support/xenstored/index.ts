/** Starts a xenstore daemon for tests, as a child process that a test may kill. */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type XenstoredKind = 'fake' | 'real';

export interface RunningXenstored {
  kind: XenstoredKind;
  /** False for the xenstored of a live dom0: killing it would take the host's Xen down. */
  killable: boolean;
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

/** Where a dom0's xenstored listens (oxenstored and the C daemon alike). */
const DOM0_SOCKET = '/run/xenstored/socket';

/**
 * The real xenstored is the one of a live dom0: the Xen testbed runs the suites
 * there with VMBF_TESTBED_DOM0=1. Off Xen the C daemon would need an
 * LD_PRELOAD shim faking the hypervisor, which the project does not have.
 */
export function realXenstoredAvailable(): { ok: boolean; reason?: string } {
  if (process.env.VMBF_TESTBED_DOM0 !== '1')
    return {
      ok: false,
      reason: 'not in a dom0 (the Xen testbed, npm run test:xen, runs this suite against its real xenstored)',
    };
  if (!existsSync(DOM0_SOCKET))
    return { ok: false, reason: `VMBF_TESTBED_DOM0=1 but ${DOM0_SOCKET} is missing` };
  return { ok: true };
}

function dom0Xenstored(): RunningXenstored {
  const refuse = async () => {
    throw new Error("the dom0's xenstored is never killed or driven by tests");
  };
  return {
    kind: 'real',
    killable: false,
    socketPath: DOM0_SOCKET,
    env: { XENSTORED_PATH: DOM0_SOCKET },
    pid: 0,
    kill: refuse,
    stop: async () => undefined,
    introduce: refuse,
    release: refuse,
  };
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => child.once('exit', () => r()));
}

export async function startXenstored(kind: XenstoredKind): Promise<RunningXenstored> {
  if (kind === 'real') {
    const real = realXenstoredAvailable();
    if (!real.ok) throw new Error(real.reason);
    return dom0Xenstored();
  }
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
    killable: true,
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
