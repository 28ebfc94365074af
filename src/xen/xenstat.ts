/** XenStat: snapshots of the host and its domains from libxenstat. */
import { withDeadline } from '../native/deadline.js';
import { nativeAddon } from '../native/loader.js';
import type { NativeDomain, NativeVbd } from '../native/native-types.js';
import { optionsObject, timeoutMs } from '../util/validate-options.js';

export type VbdBackendType = 'vbd' | 'qdisk' | 'unknown';

/** A virtual block device. Counters are absent when libxenstat flags the VBD as unreadable. */
export interface VbdStats {
  /** Xen virtual device number, as in xenstore device/vbd/<device>. */
  device: number;
  backendType: VbdBackendType;
  error: boolean;
  counters?: {
    ooRequests: number;
    readRequests: number;
    writeRequests: number;
    readSectors: number;
    writeSectors: number;
  };
}

export interface DomainStats {
  id: number;
  name: string;
  state: {
    running: boolean;
    blocked: boolean;
    paused: boolean;
    shutdown: boolean;
    crashed: boolean;
    dying: boolean;
  };
  memoryBytes: number;
  maxMemoryBytes: number;
  cpuNs: number;
  vcpus: number;
  vbds: VbdStats[];
}

export interface NodeSnapshot {
  /** Lines libxenstat printed during the sample (e.g. backends of vanished domains); captured, not printed. */
  libraryMessages: string[];
  totalMemoryBytes: number;
  freeMemoryBytes: number;
  cpus: number;
  domains: DomainStats[];
  /** performance.now() when the snapshot was taken. */
  takenAt: number;
}

export interface XenStatOptions {
  /** Default 5000 ms. */
  callTimeoutMs?: number;
}

// libxenstat's XENSTAT_VBD_TYPE_XEN_VBD / _QDISK (tools/libs/stat/xenstat_priv.h).
const BACKEND_TYPES: Record<number, VbdBackendType> = { 1: 'vbd', 2: 'qdisk' };

function toVbd(v: NativeVbd): VbdStats {
  const vbd: VbdStats = { device: v.device, backendType: BACKEND_TYPES[v.type] ?? 'unknown', error: v.error };
  if (!v.error) {
    vbd.counters = {
      ooRequests: v.ooRequests ?? 0,
      readRequests: v.readRequests ?? 0,
      writeRequests: v.writeRequests ?? 0,
      readSectors: v.readSectors ?? 0,
      writeSectors: v.writeSectors ?? 0,
    };
  }
  return vbd;
}

function toDomain(d: NativeDomain): DomainStats {
  return {
    id: d.id,
    name: d.name,
    state: {
      running: d.running,
      blocked: d.blocked,
      paused: d.paused,
      shutdown: d.shutdown,
      crashed: d.crashed,
      dying: d.dying,
    },
    memoryBytes: d.memory,
    maxMemoryBytes: d.maxMemory,
    cpuNs: d.cpuNs,
    vcpus: d.vcpus,
    // libxenstat lists VBDs in sysfs directory order; callers want device order.
    vbds: d.vbds.map(toVbd).sort((a, b) => a.device - b.device),
  };
}

export class XenStat {
  readonly #timeoutMs: number;

  constructor(options: XenStatOptions = {}) {
    this.#timeoutMs =
      timeoutMs(optionsObject(options, 'XenStat options').callTimeoutMs, 'callTimeoutMs') ?? 5000;
  }

  /**
   * One consistent view of every domain. On a host without a hypervisor this
   * rejects with ERR_XENSTAT_INIT carrying what libxenstat printed.
   */
  async snapshot(options: { vbds?: boolean } = {}): Promise<NodeSnapshot> {
    const addon = nativeAddon();
    const raw = await withDeadline(() => addon.xenstatSnapshot(options.vbds ?? true), this.#timeoutMs, {
      lib: 'xenstat',
      op: 'xenstat_get_node',
    });
    // libxenstat 4.17 can list a domain twice past 256 domains when one has no name.
    const seen = new Set<number>();
    const domains = raw.domains.filter((d) => !seen.has(d.id) && seen.add(d.id));
    return {
      libraryMessages: raw.libraryOutput ? raw.libraryOutput.split(';').filter(Boolean) : [],
      totalMemoryBytes: raw.totalMemory,
      freeMemoryBytes: raw.freeMemory,
      cpus: raw.cpus,
      domains: domains.map(toDomain),
      takenAt: performance.now(),
    };
  }

  async domain(domid: number): Promise<DomainStats | undefined> {
    const node = await this.snapshot();
    return node.domains.find((d) => d.id === domid);
  }
}
