/**
 * A fake Xen host for running the real libxenstat off-Xen, in a child process.
 *
 * libxenstat reads three sources; each is faked separately:
 *   - the hypervisor (xc_* calls): the LD_PRELOAD shim answers from a domain
 *     table file (env VMBF_XENSTAT_DOMAINS), written here;
 *   - sysfs /sys/bus/xen-backend/devices (blkback counters): the shim
 *     redirects it to a directory (env VMBF_XENSTAT_SYSFS), written here;
 *   - xenstore (domain names): run a test daemon and write the entries from
 *     fakeXenstoreEntries() with any client (xenstoreCliWriter, or your own).
 *
 * Usage: spawn the program under test with
 *   { ...process.env, ...xenstored.env, ...host.env }
 * e.g. `node my-addon-script.js`; the shim only acts on libxenctrl calls and
 * on paths under /sys/bus/xen-backend/devices, everything else passes through.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildXenstatShim } from './compile.js';

export { buildXenstatProbe, buildXenstatShim, testSupportBuildDir } from './compile.js';

const execFileAsync = promisify(execFile);

/** Xen's SHUTDOWN_* codes, by the names the shim's table understands. */
export const SHUTDOWN_REASONS = ['poweroff', 'reboot', 'suspend', 'crash', 'watchdog', 'soft_reset'] as const;
export type ShutdownReason = (typeof SHUTDOWN_REASONS)[number];

/**
 * One XEN_DOMINF_* state bit. 'crashed' is shorthand for 'shutdown:crash'
 * (libxenstat: crashed = shutdown with reason crash; shutdown = any other reason).
 */
export type FakeDomainFlag =
  | 'running'
  | 'blocked'
  | 'paused'
  | 'dying'
  | 'hvm'
  | 'crashed'
  | `shutdown:${ShutdownReason}`;

/** The five blkback counter files libxenstat reads from <vbd dir>/statistics/. */
export const VBD_STAT_FILES = ['oo_req', 'rd_req', 'wr_req', 'rd_sect', 'wr_sect'] as const;
export type VbdStatFile = (typeof VBD_STAT_FILES)[number];

export interface FakeVbd {
  /** Device number as in the sysfs name vbd-<domid>-<dev>, e.g. 51712 = xvda. */
  dev: number;
  /** sysfs name prefix: 'vbd' (blkback, xenstat type 1) or 'tap' (type 2). Default 'vbd'. */
  backend?: 'vbd' | 'tap';
  /** Counter values (default 0). A string is written verbatim, e.g. '' or 'garbage' to break parsing. */
  stats?: Partial<Record<VbdStatFile, number | bigint | string>>;
  /** Counter files left out: libxenstat then flags the VBD with xenstat_vbd_error. */
  missing?: VbdStatFile[];
}

export interface FakeDomain {
  domid: number;
  /**
   * /local/domain/<domid>/name. Default 'Domain-0' for domid 0, else `guest-<domid>`.
   * null: no name node, which libxenstat treats as a dying domain and skips.
   */
  name?: string | null;
  /** State bits; [] means none (e.g. a domain being built). */
  state: FakeDomainFlag[];
  /** Current memory (tot_pages), KiB; multiple of the page size. */
  memKiB: number;
  /** Maximum memory (max_pages), KiB; 'unlimited' makes libxenstat report 2^64-1. */
  maxMemKiB: number | 'unlimited';
  vcpus: number;
  /** Online vCPUs (default all); the domain CPU time is spread over these. */
  onlineVcpus?: number;
  cpuTimeNs: number | bigint;
  ssid?: number;
  vbds?: FakeVbd[];
}

export interface FakeNode {
  /** Defaults: 16 GiB total, 8 GiB free, 4 CPUs at 2.4 GHz, Xen "4.17.7-fake". */
  totalKiB?: number;
  freeKiB?: number;
  cpus?: number;
  cpuKHz?: number;
  /** "<major>.<minor><extra>", extra at most 15 characters. */
  xenVersion?: string;
}

/** A libxenctrl call the shim can make fail. */
export type FakeFailingCall = 'interface_open' | 'physinfo' | 'getinfolist' | 'vcpu_getinfo' | 'version';

export interface FakeHostOptions {
  node?: FakeNode;
  /** Calls that fail, with an errno name or number (default EPERM). */
  failures?: Partial<Record<FakeFailingCall, string | number>>;
}

/** Environment that makes libxenstat see the fake host. */
export interface FakeXenstatEnv {
  LD_PRELOAD: string;
  VMBF_XENSTAT_DOMAINS: string;
  VMBF_XENSTAT_SYSFS: string;
  [name: string]: string;
}

export interface FakeXenHost {
  /** Merge into a child's environment (with the xenstore daemon's env). */
  env: FakeXenstatEnv;
  domainsFile: string;
  sysfsDir: string;
  /**
   * Replaces the host's state: table file (atomically, so a running reader
   * sees the old or the new one) and the sysfs tree. Xenstore names are the
   * caller's job (fakeXenstoreEntries).
   */
  update(domains: FakeDomain[], options?: FakeHostOptions): Promise<void>;
}

/** Memory must be whole x86 pages: the shim hands libxenstat page counts. */
const PAGE_KIB = 4;
const FIRST_RESERVED_DOMID = 0x7ff0;

/**
 * Writes a fake host into `dir` (created if needed): <dir>/domains (the
 * shim's table) and <dir>/sysfs/<backend>-<domid>-<dev>/statistics/*.
 * Compiles the shim on first use.
 */
export async function createFakeXenHost(
  dir: string,
  domains: FakeDomain[],
  options: FakeHostOptions = {},
): Promise<FakeXenHost> {
  const shim = await buildXenstatShim();
  const domainsFile = join(dir, 'domains');
  const sysfsDir = join(dir, 'sysfs');
  await mkdir(sysfsDir, { recursive: true });
  const host: FakeXenHost = {
    env: { LD_PRELOAD: shim, VMBF_XENSTAT_DOMAINS: domainsFile, VMBF_XENSTAT_SYSFS: sysfsDir },
    domainsFile,
    sysfsDir,
    async update(nextDomains, nextOptions = {}) {
      const table = formatDomainTable(nextDomains, nextOptions);
      await writeSysfs(sysfsDir, nextDomains);
      await writeAtomically(domainsFile, table);
    },
  };
  await host.update(domains, options);
  return host;
}

/** The shim's table text (format documented in xenstat-shim.c). Validates the input. */
export function formatDomainTable(domains: FakeDomain[], options: FakeHostOptions = {}): string {
  const lines = ['# fake Xen host for libxenstat (test/support/xenstat/xenstat-shim.c)'];
  const node = options.node ?? {};
  const nodeFields: string[] = [];
  if (node.totalKiB !== undefined) nodeFields.push(`total_kib=${kib(node.totalKiB, 'node.totalKiB')}`);
  if (node.freeKiB !== undefined) nodeFields.push(`free_kib=${kib(node.freeKiB, 'node.freeKiB')}`);
  if (node.cpus !== undefined) nodeFields.push(`cpus=${positive(node.cpus, 'node.cpus')}`);
  if (node.cpuKHz !== undefined) nodeFields.push(`cpu_khz=${positive(node.cpuKHz, 'node.cpuKHz')}`);
  if (node.xenVersion !== undefined) {
    if (!/^\d+\.\d+\S{0,15}$/.test(node.xenVersion)) throw new Error(`bad xenVersion ${node.xenVersion}`);
    nodeFields.push(`xen_version=${node.xenVersion}`);
  }
  if (nodeFields.length > 0) lines.push(`node ${nodeFields.join(' ')}`);
  for (const [call, errno] of Object.entries(options.failures ?? {})) {
    const code = String(errno ?? 'EPERM');
    if (!/^(E[A-Z]+|[1-9]\d*)$/.test(code)) throw new Error(`bad errno ${code} for ${call}`);
    lines.push(`fail ${call} ${code}`);
  }

  const seen = new Set<number>();
  for (const d of domains) {
    if (!Number.isInteger(d.domid) || d.domid < 0 || d.domid >= FIRST_RESERVED_DOMID) {
      throw new Error(`bad domid ${d.domid}`);
    }
    if (seen.has(d.domid)) throw new Error(`duplicate domid ${d.domid}`);
    seen.add(d.domid);
    const what = `domain ${d.domid}`;
    const state = d.state.length > 0 ? d.state.join(',') : '-';
    const maxMem = d.maxMemKiB === 'unlimited' ? 'unlimited' : kib(d.maxMemKiB, `${what} maxMemKiB`);
    const extras: string[] = [];
    if (d.ssid !== undefined) extras.push(`ssid=${nonNegative(d.ssid, `${what} ssid`)}`);
    if (d.onlineVcpus !== undefined) {
      if (d.onlineVcpus > d.vcpus) throw new Error(`${what}: onlineVcpus > vcpus`);
      extras.push(`online_vcpus=${nonNegative(d.onlineVcpus, `${what} onlineVcpus`)}`);
    }
    lines.push(
      [
        'dom',
        d.domid,
        state,
        kib(d.memKiB, `${what} memKiB`),
        maxMem,
        nonNegative(d.vcpus, `${what} vcpus`),
        BigInt(d.cpuTimeNs).toString(),
        ...extras,
      ].join(' '),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The name a FakeDomain gets in xenstore, or null for none. */
export function fakeDomainName(domain: FakeDomain): string | null {
  if (domain.name === null) return null;
  return domain.name ?? (domain.domid === 0 ? 'Domain-0' : `guest-${domain.domid}`);
}

/** A xenstore path and the value to write there. */
export type XenstoreEntry = readonly [path: string, value: string];
/** Writes entries into whichever xenstore the test runs. */
export type XenstoreWriter = (entries: readonly XenstoreEntry[]) => Promise<void>;

/**
 * The xenstore nodes libxenstat 4.17 reads for these domains: only
 * /local/domain/<id>/name. (VBDs come from sysfs alone; xenstore is also
 * consulted at /local/domain/0/backend/qdisk/<id>, which we never create, so
 * it does not try QMP sockets.)
 */
export function fakeXenstoreEntries(domains: FakeDomain[]): XenstoreEntry[] {
  const entries: XenstoreEntry[] = [];
  for (const domain of domains) {
    const name = fakeDomainName(domain);
    if (name !== null) entries.push([`/local/domain/${domain.domid}/name`, name]);
  }
  return entries;
}

/** Writes fakeXenstoreEntries(domains) with `writer`. */
export async function writeFakeXenstore(domains: FakeDomain[], writer: XenstoreWriter): Promise<void> {
  await writer(fakeXenstoreEntries(domains));
}

/**
 * A writer using the xenstore-write CLI (one process per 200 entries);
 * `env` must carry the daemon's XENSTORED_PATH (or XENSTORED_RUNDIR).
 */
export function xenstoreCliWriter(env: Record<string, string | undefined>): XenstoreWriter {
  return async (entries) => {
    for (let i = 0; i < entries.length; i += 200) {
      const args = entries.slice(i, i + 200).flat();
      await execFileAsync('xenstore-write', args, { env: { ...process.env, ...env } });
    }
  };
}

/**
 * Removes `path` and everything below it with the xenstore-rm CLI, e.g.
 * '/local/domain' so that names of an earlier fake host do not linger.
 */
export async function xenstoreCliRemove(
  env: Record<string, string | undefined>,
  path: string,
): Promise<void> {
  await execFileAsync('xenstore-rm', [path], { env: { ...process.env, ...env } });
}

function kib(value: number, what: string): number {
  nonNegative(value, what);
  if (value % PAGE_KIB !== 0) throw new Error(`${what} = ${value} is not a multiple of ${PAGE_KIB} KiB`);
  return value;
}

function nonNegative(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${what} must be a non-negative integer`);
  return value;
}

function positive(value: number, what: string): number {
  if (nonNegative(value, what) === 0) throw new Error(`${what} must be positive`);
  return value;
}

/** Mirrors the VBDs of `domains` into sysfsDir, removing entries no longer listed. */
async function writeSysfs(sysfsDir: string, domains: FakeDomain[]): Promise<void> {
  const wanted = new Map<string, FakeVbd>();
  for (const domain of domains) {
    for (const vbd of domain.vbds ?? []) {
      nonNegative(vbd.dev, `domain ${domain.domid} vbd dev`);
      const entry = `${vbd.backend ?? 'vbd'}-${domain.domid}-${vbd.dev}`;
      if (wanted.has(entry)) throw new Error(`duplicate VBD ${entry}`);
      wanted.set(entry, vbd);
    }
  }
  for (const existing of await readdir(sysfsDir)) {
    if (!wanted.has(existing)) await rm(join(sysfsDir, existing), { recursive: true, force: true });
  }
  for (const [entry, vbd] of wanted) {
    const statistics = join(sysfsDir, entry, 'statistics');
    await mkdir(statistics, { recursive: true });
    for (const file of VBD_STAT_FILES) {
      const path = join(statistics, file);
      if (vbd.missing?.includes(file)) {
        await rm(path, { force: true });
        continue;
      }
      const value = vbd.stats?.[file] ?? 0;
      // sysfs attributes end in a newline; raw strings are written as given
      await writeAtomically(path, typeof value === 'string' ? value : `${value}\n`);
    }
  }
}

/** Readers see the old file or the new one, never a partial write. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text);
  await rename(temporary, path);
}
