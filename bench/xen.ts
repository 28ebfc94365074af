/**
 * In-process libxenstore and libxenstat against the command-line tools, on
 * the test xenstored and a generated host (libxenstat under the LD_PRELOAD
 * shim, so the xenstat side runs in child processes for both).
 */
import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { XenStore } from '../src/xen/xenstore.js';
import {
  type FakeDomain,
  createFakeXenHost,
  writeFakeXenstore,
  xenstoreCliRemove,
  xenstoreCliWriter,
} from '../test/support/xenstat/fake-host.js';
import { startXenstored } from '../test/support/xenstored/index.js';
import { type Timing, table, time } from './stats.js';

const run = promisify(execFile);

export async function benchXenstore(runs: number): Promise<string> {
  const daemon = await startXenstored('fake');
  Object.assign(process.env, daemon.env);
  try {
    const store = await XenStore.open();
    for (let i = 0; i < 20; i++) await store.write(`/local/domain/7/device/vbd/5171${i}/state`, '4');
    const env = { ...process.env, ...daemon.env };
    const rows = [
      {
        ours: await time('XenStore.read (in-process)', runs, () => store.read('/local/domain/0/name')),
        theirs: await time('spawn xenstore-read', runs, () =>
          run('xenstore-read', ['/local/domain/0/name'], { env }),
        ),
      },
      {
        ours: await time('XenStore.directory', runs, () => store.directory('/local/domain/7/device/vbd')),
        theirs: await time('spawn xenstore-list', runs, () =>
          run('xenstore-list', ['/local/domain/7/device/vbd'], { env }),
        ),
      },
      {
        ours: await time('read 20 VBD states (in-process, parallel)', runs, () =>
          Promise.all(
            Array.from({ length: 20 }, (_, i) => store.read(`/local/domain/7/device/vbd/5171${i}/state`)),
          ),
        ),
        theirs: await time('spawn xenstore-ls of the same subtree', runs, () =>
          run('xenstore-ls', ['/local/domain/7/device/vbd'], { env }),
        ),
      },
    ];
    await store.close();
    return table("xenstore (against the project's test xenstored on a unix socket)", rows);
  } finally {
    delete process.env.XENSTORED_PATH;
    await daemon.stop();
  }
}

function domains(n: number): FakeDomain[] {
  return Array.from({ length: n }, (_, i) => ({
    domid: i,
    state: ['blocked'],
    memKiB: 262144,
    maxMemKiB: 262144,
    vcpus: 1,
    cpuTimeNs: i,
    vbds:
      i === 0 ? [] : [{ dev: 51712, stats: { oo_req: 0, rd_req: i, wr_req: 0, rd_sect: i * 8, wr_sect: 0 } }],
  }));
}

export async function benchXenstat(dir: string, runs: number): Promise<string> {
  const daemon = await startXenstored('fake');
  const rows: { ours: Timing; theirs?: Timing }[] = [];
  try {
    for (const n of [1, 10, 100]) {
      const host = await createFakeXenHost(path.join(dir, `host-${n}`), domains(n));
      await xenstoreCliRemove(daemon.env, '/local/domain');
      await writeFakeXenstore(domains(n), xenstoreCliWriter(daemon.env));
      const env = { ...process.env, ...daemon.env, ...host.env };
      const child = spawnSync(process.execPath, ['--import', 'tsx', 'bench/xenstat-child.ts', String(runs)], {
        env,
        encoding: 'utf8',
      });
      if (child.status !== 0) throw new Error(`xenstat bench child failed: ${child.stderr}`);
      const ours = JSON.parse(child.stdout) as Timing;
      ours.label = `XenStat.snapshot, ${n} domain(s) (in-process)`;
      const theirs = await time(`spawn xentop -b -i 1, ${n} domain(s)`, Math.min(runs, 20), () =>
        run('/usr/lib/xen-4.17/bin/xentop', ['-b', '-i', '1'], { env }),
      );
      rows.push({ ours, theirs });
    }
  } finally {
    await daemon.stop();
  }
  return table('libxenstat (real library under the fake-host shim)', rows);
}
