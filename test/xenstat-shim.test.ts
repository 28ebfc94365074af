/**
 * The fake Xen host for libxenstat: the real libxenstat 4.17, in a child
 * process under the LD_PRELOAD shim, must report exactly the generated host
 * (domains, states, memory, vCPUs, VBD counters), and xentop run under the
 * same shim must print the same numbers.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type FakeDomain,
  type FakeDomainFlag,
  type FakeXenHost,
  VBD_STAT_FILES,
  buildXenstatProbe,
  createFakeXenHost,
  fakeDomainName,
  writeFakeXenstore,
  xenstoreCliRemove,
  xenstoreCliWriter,
} from './support/xenstat/fake-host.js';
import { startXenstored } from './support/xenstored/index.js';

const XENTOP = '/usr/lib/xen-4.17/bin/xentop';
const U64_MAX = (1n << 64n) - 1n;

/** One line of xenstat-probe output (64-bit values as decimal strings). */
interface ProbeSample {
  node: { totMem: string; freeMem: string; numCpus: number; cpuHz: string; xenVersion: string };
  domains: ProbeDomain[];
}
interface ProbeDomain {
  id: number;
  name: string;
  state: {
    dying: number;
    shutdown: number;
    crashed: number;
    paused: number;
    blocked: number;
    running: number;
  };
  curMem: string;
  maxMem: string;
  cpuNs: string;
  ssid: number;
  numVcpus: number;
  vcpus: { online: number; ns: string }[];
  numNetworks: number;
  vbds: ProbeVbd[];
}
interface ProbeVbd {
  dev: number;
  type: number;
  error: boolean;
  ooReqs: string;
  rdReqs: string;
  wrReqs: string;
  rdSects: string;
  wrSects: string;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env: Record<string, string | undefined>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** What libxenstat must report for a generated domain. */
function expectedDomain(d: FakeDomain) {
  const flags = new Set<FakeDomainFlag>(d.state);
  const shutdownReason = d.state.find((f) => f.startsWith('shutdown:'));
  const crashed = flags.has('crashed') || shutdownReason === 'shutdown:crash';
  const online = d.onlineVcpus ?? d.vcpus;
  const cpuNs = BigInt(d.cpuTimeNs);
  return {
    id: d.domid,
    name: fakeDomainName(d),
    state: {
      dying: Number(flags.has('dying')),
      shutdown: Number(shutdownReason !== undefined && !crashed),
      crashed: Number(crashed),
      paused: Number(flags.has('paused')),
      blocked: Number(flags.has('blocked')),
      running: Number(flags.has('running')),
    },
    curMem: String(d.memKiB * 1024),
    maxMem: d.maxMemKiB === 'unlimited' ? String(U64_MAX) : String(d.maxMemKiB * 1024),
    cpuNs: String(cpuNs),
    ssid: d.ssid ?? 0,
    numVcpus: d.vcpus,
    // the shim spreads the domain's time over online vCPUs, remainder on vCPU 0
    vcpus: Array.from({ length: d.vcpus }, (_, i) => ({
      online: Number(i < online),
      ns: i >= online ? '0' : String(cpuNs / BigInt(online) + (i === 0 ? cpuNs % BigInt(online) : 0n)),
    })),
  };
}

function expectedVbd(vbd: NonNullable<FakeDomain['vbds']>[number]): Partial<ProbeVbd> {
  const type = vbd.backend === 'tap' ? 2 : 1;
  const broken =
    (vbd.missing?.length ?? 0) > 0 ||
    VBD_STAT_FILES.some((f) => typeof vbd.stats?.[f] === 'string' && !/^\d+/.test(vbd.stats[f] as string));
  // counters of an error VBD are whatever was left in libxenstat's stack struct: not compared
  if (broken) return { dev: vbd.dev, type, error: true };
  const counter = (file: (typeof VBD_STAT_FILES)[number]) => String(vbd.stats?.[file] ?? 0);
  return {
    dev: vbd.dev,
    type,
    error: false,
    ooReqs: counter('oo_req'),
    rdReqs: counter('rd_req'),
    wrReqs: counter('wr_req'),
    rdSects: counter('rd_sect'),
    wrSects: counter('wr_sect'),
  };
}

/** Checks a probe sample against the generated domains (unnamed ones must be absent). */
function expectSampleMatches(sample: ProbeSample, domains: FakeDomain[]): void {
  const visible = domains.filter((d) => fakeDomainName(d) !== null).sort((a, b) => a.domid - b.domid);
  expect(sample.domains.map((d) => d.id)).toEqual(visible.map((d) => d.domid));
  for (const [i, d] of visible.entries()) {
    const got = sample.domains[i] as ProbeDomain;
    expect(got).toMatchObject(expectedDomain(d));
    expect(got.numNetworks).toBe(0);
    // readdir order is the directory's, not creation order: compare by dev
    const vbds = [...got.vbds].sort((a, b) => a.dev - b.dev || a.type - b.type);
    const wanted = [...(d.vbds ?? [])].sort((a, b) => a.dev - b.dev).map(expectedVbd);
    expect(vbds).toHaveLength(wanted.length);
    for (const [j, vbd] of vbds.entries()) expect(vbd).toMatchObject(wanted[j] as Partial<ProbeVbd>);
  }
}

/** A running xenstat-probe taking several samples, one per stdin line. */
class ProbeSession {
  private readonly lines: AsyncIterator<string>;
  stderr = '';

  constructor(private readonly child: ChildProcess) {
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  }

  async next(): Promise<ProbeSample> {
    const line = await this.lines.next();
    if (line.done) throw new Error(`probe ended early; stderr: ${this.stderr}`);
    return JSON.parse(line.value) as ProbeSample;
  }

  requestNext(): void {
    this.child.stdin?.write('\n');
  }

  exited(): Promise<number | null> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null) resolve(this.child.exitCode);
      else this.child.on('close', (code) => resolve(code));
    });
  }
}

/** Parses `xentop -b -i 1 -f -x -v` into one record per domain. */
function parseXentop(text: string) {
  type Row = {
    name: string;
    state: string;
    cpuSec: string;
    memK: string;
    maxMemK: string;
    vcpus: string;
    nets: string;
    vbds: string;
    totals: string[];
    ssid: string;
    vcpuSec: string[];
    vbdLines: { type: string; dev: string; counters: string[] }[];
  };
  const rows: Row[] = [];
  let current: Row | undefined;
  let inVcpus = false;
  for (const line of text.split('\n')) {
    const vbd =
      /^VBD (\S+)\s+(\d+) \[[ 0-9a-f]+:[ 0-9a-f]+\]\s+OO:\s+(\S+)\s+RD:\s+(\S+)\s+WR:\s+(\S+)\s+RSECT:\s+(\S+)\s+WSECT:\s+(\S+)/.exec(
        line,
      );
    if (vbd && current) {
      current.vbdLines.push({ type: vbd[1] as string, dev: vbd[2] as string, counters: vbd.slice(3, 8) });
      inVcpus = false;
    } else if (line.startsWith('VCPUs(sec):') || (inVcpus && /^\s+\d+:/.test(line))) {
      inVcpus = true;
      for (const m of line.matchAll(/(\d+):\s+(\d+)s/g)) current?.vcpuSec.push(`${m[1]}:${m[2]}`);
    } else if (/^\s*NAME\s+STATE/.test(line) || line.trim() === '') {
      inVcpus = false;
    } else {
      inVcpus = false;
      const f = line.replace('no limit', 'no_limit').trim().split(/\s+/);
      expect(f, `xentop row: ${line}`).toHaveLength(19);
      current = {
        name: f[0] as string,
        state: f[1] as string,
        cpuSec: f[2] as string,
        memK: f[4] as string,
        maxMemK: f[6] as string,
        vcpus: f[8] as string,
        nets: f[9] as string,
        vbds: f[12] as string,
        totals: f.slice(13, 18),
        ssid: f[18] as string,
        vcpuSec: [],
        vbdLines: [],
      };
      rows.push(current);
    }
  }
  return rows;
}

/** What xentop should print for a probe domain (its own formatting rules, from xentop.c). */
function xentopViewOf(d: ProbeDomain) {
  const s = d.state;
  const state = [
    s.dying ? 'd' : '-',
    s.shutdown ? 's' : '-',
    s.blocked ? 'b' : '-',
    s.crashed ? 'c' : '-',
    s.paused ? 'p' : '-',
    s.running ? 'r' : '-',
  ].join('');
  const good = d.vbds.filter((v) => !v.error);
  const showTotals = d.vbds.length === 0 || good.length > 0;
  const sum = (key: keyof ProbeVbd) => String(good.reduce((acc, v) => acc + BigInt(v[key] as string), 0n));
  const counterKeys = ['ooReqs', 'rdReqs', 'wrReqs', 'rdSects', 'wrSects'] as const;
  return {
    name: d.name,
    state,
    cpuSec: String(BigInt(d.cpuNs) / 1_000_000_000n),
    memK: String(BigInt(d.curMem) / 1024n),
    maxMemK: BigInt(d.maxMem) === U64_MAX ? 'no_limit' : String(BigInt(d.maxMem) / 1024n),
    vcpus: String(d.numVcpus),
    nets: String(d.numNetworks),
    vbds: String(d.vbds.length),
    totals: counterKeys.map((k) => (showTotals ? sum(k) : '-')),
    ssid: String(d.ssid),
    vcpuSec: d.vcpus.flatMap((v, i) => (v.online ? [`${i}:${BigInt(v.ns) / 1_000_000_000n}`] : [])),
    vbdLines: d.vbds.map((v) => ({
      type: v.type === 1 ? 'BlkBack' : v.type === 2 ? 'BlkTap' : 'Unidentified',
      dev: String(v.dev),
      counters: counterKeys.map((k) => (v.error ? '-' : v[k])),
    })),
  };
}

const mixedDomains: FakeDomain[] = [
  {
    domid: 0,
    state: ['running'],
    memKiB: 1048576,
    maxMemKiB: 'unlimited',
    vcpus: 2,
    cpuTimeNs: 123_456_789_012n,
  },
  {
    domid: 1,
    name: 'web',
    state: ['blocked'],
    memKiB: 524288,
    maxMemKiB: 1048576,
    vcpus: 4,
    onlineVcpus: 3,
    cpuTimeNs: 7_000_000_001,
    ssid: 3,
    vbds: [
      // 64-bit counters survive: 2^40 sectors
      { dev: 51712, stats: { oo_req: 1, rd_req: 200, wr_req: 30, rd_sect: 1n << 40n, wr_sect: 480 } },
      { dev: 51728, backend: 'tap', stats: { rd_req: 5, rd_sect: 40 } },
    ],
  },
  { domid: 2, name: 'booting', state: ['paused'], memKiB: 4096, maxMemKiB: 4096, vcpus: 1, cpuTimeNs: 0 },
  { domid: 3, name: 'oops', state: ['crashed'], memKiB: 262144, maxMemKiB: 262144, vcpus: 2, cpuTimeNs: 77 },
  {
    domid: 4,
    name: 'halted',
    state: ['shutdown:poweroff'],
    memKiB: 8192,
    maxMemKiB: 8192,
    vcpus: 1,
    cpuTimeNs: 3_000_000_000,
  },
  {
    domid: 5,
    name: 'rebooting',
    state: ['shutdown:reboot', 'paused'],
    memKiB: 8192,
    maxMemKiB: 8192,
    vcpus: 1,
    cpuTimeNs: 1,
  },
  { domid: 6, name: 'going', state: ['dying', 'blocked'], memKiB: 0, maxMemKiB: 0, vcpus: 1, cpuTimeNs: 5 },
  // no name in xenstore: libxenstat takes it for a dying domain and skips it (and its VBD)
  {
    domid: 7,
    name: null,
    state: ['running'],
    memKiB: 4096,
    maxMemKiB: 4096,
    vcpus: 1,
    cpuTimeNs: 9,
    vbds: [{ dev: 51712 }],
  },
  {
    domid: 8,
    name: 'bad-disks',
    state: ['running', 'hvm'],
    memKiB: 65536,
    maxMemKiB: 65536,
    vcpus: 1,
    cpuTimeNs: 2_500_000_000,
    vbds: [
      { dev: 51712, stats: { oo_req: 9, rd_req: 9, wr_req: 9 }, missing: ['rd_sect'] },
      { dev: 51728, stats: { wr_req: 'n/a\n' } },
      { dev: 51744, stats: { oo_req: 0, rd_req: 11, wr_req: 12, rd_sect: 13, wr_sect: 14 } },
    ],
  },
  { domid: 9, name: 'no-vcpus', state: [], memKiB: 4096, maxMemKiB: 8192, vcpus: 0, cpuTimeNs: 0 },
  {
    domid: 10,
    name: 'all-broken',
    state: ['blocked'],
    memKiB: 4096,
    maxMemKiB: 8192,
    vcpus: 1,
    cpuTimeNs: 1,
    vbds: [{ dev: 51712, missing: ['oo_req'] }],
  },
];

/** domids 0..99, states cycling, one VBD each with distinct counters. */
function hundredDomains(): FakeDomain[] {
  const states: FakeDomainFlag[][] = [
    ['running'],
    ['blocked'],
    ['paused'],
    ['shutdown:poweroff'],
    ['crashed'],
  ];
  return Array.from({ length: 100 }, (_, domid) => ({
    domid,
    name: domid === 0 ? 'Domain-0' : `vm${String(domid).padStart(3, '0')}`,
    state: states[domid % states.length] as FakeDomainFlag[],
    memKiB: 4096 * (domid + 1),
    maxMemKiB: 4096 * (domid + 2),
    vcpus: 1 + (domid % 3),
    cpuTimeNs: domid * 1_000_000_007,
    vbds: [
      {
        dev: 51712,
        stats: {
          oo_req: domid,
          rd_req: domid * 10,
          wr_req: domid * 20,
          rd_sect: domid * 80,
          wr_sect: domid * 160,
        },
      },
    ],
  }));
}

describe('libxenstat under the LD_PRELOAD fake-host shim', () => {
  let daemon: Awaited<ReturnType<typeof startXenstored>>;
  let workDir: string;
  let probe: string;

  beforeAll(async () => {
    [daemon, workDir, probe] = await Promise.all([
      startXenstored('fake'),
      mkdtemp(join(tmpdir(), 'vmbf-xenstat-')),
      buildXenstatProbe(),
    ]);
  });

  afterAll(async () => {
    await daemon?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  async function fakeHost(
    name: string,
    domains: FakeDomain[],
    options?: Parameters<typeof createFakeXenHost>[2],
  ) {
    const host = await createFakeXenHost(join(workDir, name), domains, options);
    // one daemon serves all tests: drop the previous host's names first
    await xenstoreCliRemove(daemon.env, '/local/domain');
    await writeFakeXenstore(domains, xenstoreCliWriter(daemon.env));
    return host;
  }

  function envFor(host: FakeXenHost): Record<string, string | undefined> {
    return { ...process.env, ...daemon.env, ...host.env };
  }

  it('reports every state, memory, vCPU and VBD counter of a mixed host', async () => {
    const host = await fakeHost('mixed', mixedDomains, {
      node: { totalKiB: 33554432, freeKiB: 1234564, cpus: 8, cpuKHz: 3000000, xenVersion: '4.17.7-test' },
    });
    const result = await run(probe, [], envFor(host));
    expect(result.code, result.stderr).toBe(0);
    const sample = JSON.parse(result.stdout) as ProbeSample;
    expect(sample.node).toEqual({
      totMem: String(33554432 * 1024),
      freeMem: String(1234564 * 1024),
      numCpus: 8,
      cpuHz: '3000000000',
      xenVersion: '4.17.7-test',
    });
    expectSampleMatches(sample, mixedDomains);

    // a missing stats file sets error; counters read before it are kept, the rest are stale
    const badDisks = sample.domains.find((d) => d.id === 8) as ProbeDomain;
    expect(badDisks.vbds.map((v) => [v.dev, v.error]).sort()).toEqual([
      [51712, true],
      [51728, true],
      [51744, false],
    ]);
    // libxenstat reports VBDs of domains it does not list on stderr, once per sample
    expect(result.stderr).toContain('Found interface vbd-7-51712 but domain 7 does not exist.');
  });

  it('reports 100 domains', async () => {
    const domains = hundredDomains();
    const host = await fakeHost('hundred', domains);
    const result = await run(probe, ['1', String(0x1 | 0x8)], envFor(host)); // VCPU | VBD
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    const sample = JSON.parse(result.stdout) as ProbeSample;
    expect(sample.domains).toHaveLength(100);
    expectSampleMatches(sample, domains);
  });

  it('xentop under the same shim prints the same numbers', async () => {
    for (const [name, domains] of [
      ['xentop-mixed', mixedDomains],
      ['xentop-hundred', hundredDomains()],
    ] as const) {
      const host = await fakeHost(name, domains);
      const [fromProbe, fromXentop] = await Promise.all([
        run(probe, [], envFor(host)),
        run(XENTOP, ['-b', '-i', '1', '-f', '-x', '-v'], envFor(host)),
      ]);
      expect(fromProbe.code, fromProbe.stderr).toBe(0);
      expect(fromXentop.code, fromXentop.stderr).toBe(0);
      const sample = JSON.parse(fromProbe.stdout) as ProbeSample;
      const rows = parseXentop(fromXentop.stdout);
      const byName = (a: { name: string | null }, b: { name: string | null }) =>
        (a.name ?? '').localeCompare(b.name ?? '');
      const sortVbds = <R extends { vbdLines: { dev: string }[] }>(r: R): R => ({
        ...r,
        vbdLines: [...r.vbdLines].sort((a, b) => Number(a.dev) - Number(b.dev)),
      });
      expect(rows.map(sortVbds).sort(byName)).toEqual(
        sample.domains.map(xentopViewOf).map(sortVbds).sort(byName),
      );
      expect(rows).toHaveLength(domains.filter((d) => d.name !== null).length);
    }
  });

  it('libxenstat 4.17 quirk: past 256 domains, a nameless one makes it list a domain twice', async () => {
    // xenstat_get_node asks for the next chunk from domid = number of domains
    // kept so far, not last domid + 1: each skipped domain repeats one domain
    const domains: FakeDomain[] = Array.from({ length: 300 }, (_, domid) => ({
      domid,
      name: domid === 5 ? null : `d${domid}`,
      state: ['running'],
      memKiB: 4096,
      maxMemKiB: 4096,
      vcpus: 1,
      cpuTimeNs: domid,
    }));
    const host = await fakeHost('three-hundred', domains);
    const result = await run(probe, ['1', '0'], envFor(host)); // no collectors
    expect(result.code, result.stderr).toBe(0);
    const ids = (JSON.parse(result.stdout) as ProbeSample).domains.map((d) => d.id);
    expect(ids).toHaveLength(300);
    expect(ids.filter((id) => id === 255)).toHaveLength(2);
    expect(new Set(ids).size).toBe(299);
  });

  it('picks up a rewritten host between two samples of one libxenstat handle', async () => {
    const before: FakeDomain[] = [
      { domid: 0, state: ['running'], memKiB: 1048576, maxMemKiB: 'unlimited', vcpus: 1, cpuTimeNs: 10 },
      {
        domid: 12,
        name: 'newvm',
        state: ['paused'],
        memKiB: 262144,
        maxMemKiB: 262144,
        vcpus: 2,
        cpuTimeNs: 0,
        vbds: [{ dev: 51712 }],
      },
    ];
    const after: FakeDomain[] = [
      { ...(before[0] as FakeDomain), cpuTimeNs: 20 },
      {
        ...(before[1] as FakeDomain),
        state: ['crashed'],
        cpuTimeNs: 1_500_000_000,
        vbds: [{ dev: 51712, stats: { rd_req: 3, rd_sect: 24 } }],
      },
    ];
    const host = await fakeHost('changing', before);
    const child = spawn(probe, ['2'], {
      env: envFor(host) as NodeJS.ProcessEnv,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const session = new ProbeSession(child);
    expectSampleMatches(await session.next(), before);
    await host.update(after);
    session.requestNext();
    expectSampleMatches(await session.next(), after);
    expect(await session.exited()).toBe(0);
  });

  it('injects hypervisor failures, and without the table behaves like a host without Xen', async () => {
    const domains = mixedDomains.slice(0, 2);
    const noPrivcmd = await fakeHost('no-privcmd', domains, { failures: { interface_open: 'ENOENT' } });
    const initFails = await run(probe, [], envFor(noPrivcmd));
    expect(initFails.code).toBe(2);
    const expectedStderr =
      'xencall: error: Could not obtain handle on privileged command interface: No such file or directory\n' +
      'xc_interface_open: No such file or directory\n';
    expect(initFails.stderr).toBe(expectedStderr);

    // same process environment, shim loaded but no table: the real libxenctrl answers
    if (!existsSync('/dev/xen/privcmd') && !existsSync('/proc/xen/privcmd')) {
      const env = envFor(noPrivcmd);
      delete env.VMBF_XENSTAT_DOMAINS;
      const real = await run(probe, [], env);
      expect(real.code).toBe(2);
      expect(real.stderr).toBe(expectedStderr);
    }

    const physinfoFails = await fakeHost('no-physinfo', domains, { failures: { physinfo: 'EACCES' } });
    expect((await run(probe, [], envFor(physinfoFails))).code).toBe(3);

    // a vCPU query failing (not ENOMEM) means "domain in transition": libxenstat drops the domain
    const vcpuFails = await fakeHost('no-vcpus', domains, { failures: { vcpu_getinfo: 'ESRCH' } });
    const pruned = await run(probe, [], envFor(vcpuFails));
    expect(pruned.code).toBe(0);
    expect((JSON.parse(pruned.stdout) as ProbeSample).domains).toEqual([]);
  });
});
