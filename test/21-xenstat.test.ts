/**
 * The addon's XenStat against the real libxenstat, off-Xen: each snapshot runs
 * in a child process under the LD_PRELOAD fake-host shim (LD_PRELOAD only acts
 * at process start), with names served by the test xenstored.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NodeSnapshot, XenStat } from '../src/xen/xenstat.js';
import {
  type FakeDomain,
  createFakeXenHost,
  writeFakeXenstore,
  xenstoreCliRemove,
  xenstoreCliWriter,
} from './support/xenstat/fake-host.js';
import { startXenstored } from './support/xenstored/index.js';

let daemon: Awaited<ReturnType<typeof startXenstored>>;
let dir: string;

beforeAll(async () => {
  daemon = await startXenstored('fake');
  dir = await mkdtemp(path.join(os.tmpdir(), 'vmbf-xenstat-addon-'));
});

afterAll(async () => {
  await daemon?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function snapshotOn(
  name: string,
  domains: FakeDomain[],
  options?: Parameters<typeof createFakeXenHost>[2],
) {
  const host = await createFakeXenHost(path.join(dir, name), domains, options);
  await xenstoreCliRemove(daemon.env, '/local/domain');
  await writeFakeXenstore(domains, xenstoreCliWriter(daemon.env));
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/support/xenstat/addon-snapshot.ts'], {
    env: { ...process.env, ...daemon.env, ...host.env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return {
    result: JSON.parse(r.stdout) as NodeSnapshot & { error?: { code: string; message: string } },
    stderr: r.stderr,
    code: r.status,
  };
}

const counters = (n: number) => ({
  oo_req: n,
  rd_req: n * 10,
  wr_req: n * 2,
  rd_sect: n * 80,
  wr_sect: n * 16,
});

const MIXED: FakeDomain[] = [
  { domid: 0, state: ['running'], memKiB: 1048576, maxMemKiB: 1048576, vcpus: 2, cpuTimeNs: 5_000_000_000 },
  {
    domid: 3,
    name: 'booting',
    state: ['running'],
    memKiB: 262144,
    maxMemKiB: 262144,
    vcpus: 1,
    cpuTimeNs: 1_000,
    vbds: [{ dev: 51712, stats: counters(12) }],
  },
  {
    domid: 4,
    name: 'initramfs',
    state: ['blocked'],
    memKiB: 262144,
    maxMemKiB: 262144,
    vcpus: 1,
    cpuTimeNs: 2_000,
    vbds: [
      { dev: 51712, stats: counters(54) },
      { dev: 51728, stats: counters(0) },
    ],
  },
  { domid: 5, name: 'paused', state: ['paused'], memKiB: 131072, maxMemKiB: 131072, vcpus: 1, cpuTimeNs: 0 },
  {
    domid: 6,
    name: 'panicked',
    state: ['crashed'],
    memKiB: 262144,
    maxMemKiB: 262144,
    vcpus: 1,
    cpuTimeNs: 3_000,
    vbds: [{ dev: 51712, stats: counters(0), missing: ['rd_req'] }],
  },
  {
    domid: 7,
    name: 'poweroff',
    state: ['shutdown:poweroff'],
    memKiB: 262144,
    maxMemKiB: 262144,
    vcpus: 1,
    cpuTimeNs: 4_000,
  },
  {
    domid: 8,
    name: 'dying',
    state: ['dying'],
    memKiB: 262144,
    maxMemKiB: 262144,
    vcpus: 1,
    cpuTimeNs: 4_000,
  },
];

describe('XenStat snapshot through the addon', () => {
  it('domain state flags, memory, and VBD counters; an error VBD reports no counters', async () => {
    const { result, stderr, code } = await snapshotOn('mixed', MIXED, {
      node: { totalKiB: 4194304, freeKiB: 2097152, cpus: 2, cpuKHz: 2000000, xenVersion: '4.17.7' },
    });
    expect(code).toBe(0);
    expect(stderr).not.toContain('xenstat');
    expect(result.error).toBeUndefined();
    expect(result.totalMemoryBytes).toBe(4194304 * 1024);
    expect(result.freeMemoryBytes).toBe(2097152 * 1024);
    const byName = Object.fromEntries(result.domains.map((d) => [d.name, d]));
    expect(result.domains.map((d) => d.id)).toEqual([0, 3, 4, 5, 6, 7, 8]);
    expect(byName.booting?.state).toEqual({
      running: true,
      blocked: false,
      paused: false,
      shutdown: false,
      crashed: false,
      dying: false,
    });
    expect(byName.initramfs?.state.blocked).toBe(true);
    expect(byName.paused?.state.paused).toBe(true);
    expect(byName.panicked?.state).toMatchObject({ crashed: true });
    expect(byName.poweroff?.state).toMatchObject({ shutdown: true, crashed: false });
    expect(byName.dying?.state.dying).toBe(true);
    expect(byName.booting?.memoryBytes).toBe(262144 * 1024);
    expect(byName.initramfs?.vbds).toEqual([
      {
        device: 51712,
        backendType: 'vbd',
        error: false,
        counters: {
          ooRequests: 54,
          readRequests: 540,
          writeRequests: 108,
          readSectors: 4320,
          writeSectors: 864,
        },
      },
      {
        device: 51728,
        backendType: 'vbd',
        error: false,
        counters: { ooRequests: 0, readRequests: 0, writeRequests: 0, readSectors: 0, writeSectors: 0 },
      },
    ]);
    expect(byName.panicked?.vbds).toEqual([{ device: 51712, backendType: 'vbd', error: true }]);
  });

  it('100 domains', async () => {
    const many: FakeDomain[] = Array.from({ length: 100 }, (_, i) => ({
      domid: i,
      state: ['blocked'],
      memKiB: 65536,
      maxMemKiB: 65536,
      vcpus: 1,
      cpuTimeNs: i,
      vbds: i === 0 ? [] : [{ dev: 51712, stats: counters(i) }],
    }));
    const { result } = await snapshotOn('hundred', many);
    expect(result.domains).toHaveLength(100);
    expect(result.domains[99]?.vbds[0]?.counters?.readRequests).toBe(990);
  });

  it('libxenstat 4.17 lists a domain twice past 256 domains with an unnamed one: the snapshot does not', async () => {
    const many: FakeDomain[] = Array.from({ length: 300 }, (_, i) => ({
      domid: i,
      ...(i === 5 ? { name: null } : {}),
      state: ['blocked'],
      memKiB: 65536,
      maxMemKiB: 65536,
      vcpus: 1,
      cpuTimeNs: 0,
    }));
    const { result } = await snapshotOn('threehundred', many);
    const ids = result.domains.map((d) => d.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).not.toContain(5);
  });

  it('backends of domains that no longer exist: libxenstat complains on stderr, the snapshot keeps it as data', async () => {
    const { result, stderr } = await snapshotOn('orphan', [
      { domid: 0, state: ['running'], memKiB: 4096, maxMemKiB: 4096, vcpus: 1, cpuTimeNs: 0 },
      {
        domid: 9,
        name: null,
        state: ['blocked'],
        memKiB: 4096,
        maxMemKiB: 4096,
        vcpus: 1,
        cpuTimeNs: 0,
        vbds: [{ dev: 51712, stats: counters(1) }],
      },
    ]);
    expect(stderr).toBe('');
    expect(result.libraryMessages.join('\n')).toContain('vbd-9-51712');
  });

  it('a host without a hypervisor: a typed ERR_XENSTAT_INIT carrying what libxenstat printed, nothing on stderr', async () => {
    const { result, stderr, code } = await snapshotOn('nohv', MIXED, {
      failures: { interface_open: 'ENOENT' },
    });
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(result.error?.code).toBe('ERR_XENSTAT_INIT');
    expect(result.error?.message).toContain('xc_interface_open: No such file or directory');
  });
});

// The Xen testbed (npm run test:xen) runs this file in its dom0 with VMBF_TESTBED_DOM0=1.
const inDom0 = process.env.VMBF_TESTBED_DOM0 === '1';
describe.skipIf(!inDom0)('on a real dom0 (Xen testbed)', () => {
  it('the snapshot names the same domains as xl list, Domain-0 running or blocked, with memory', async () => {
    const snapshot = await new XenStat().snapshot();
    const xl = spawnSync('xl', ['list'], { encoding: 'utf8' });
    expect(xl.status).toBe(0);
    // Name ID Mem VCPUs State Time(s)
    const listed = xl.stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .map(([name, id]) => ({ id: Number(id), name }));
    expect(snapshot.domains.map((d) => ({ id: d.id, name: d.name }))).toEqual(expect.arrayContaining(listed));
    const dom0 = snapshot.domains.find((d) => d.id === 0);
    expect(dom0?.name).toBe('Domain-0');
    expect(dom0?.state.running || dom0?.state.blocked).toBe(true);
    expect(dom0?.memoryBytes).toBeGreaterThan(256 * 1024 * 1024);
    expect(snapshot.cpus).toBeGreaterThanOrEqual(1);
    expect(snapshot.freeMemoryBytes).toBeGreaterThan(0);
    expect(snapshot.libraryMessages).toEqual([]);
  });
});
