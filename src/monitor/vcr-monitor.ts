/**
 * VCR Monitor (paper module 1): the test VM's virtual computing resources as
 * xenstore, libxenstat and sysfs show them — its VBDs (frontend and backend
 * state, size, backing path, hotplug result, I/O counters) and domain state.
 */
import type { DomainFlag, Signal, VbdCounter } from '../driver/signals.js';

/** XenbusState (xen/include/public/io/xenbus.h). */
export const XenbusState = {
  Unknown: 0,
  Initialising: 1,
  InitWait: 2,
  Initialised: 3,
  Connected: 4,
  Closing: 5,
  Closed: 6,
  Reconfiguring: 7,
  Reconfigured: 8,
} as const;

export interface VbdView {
  /** Xen virtual device number (51712 = xvda). */
  device: number;
  frontendState?: number;
  frontendStateAt?: number;
  backendState?: number;
  backendStateAt?: number;
  /** Backend's size of the disk; 0 means an empty backing device (unattached loop). */
  sectors?: number;
  /** The backing block device's size read in dom0 once the backend named it (physical-device). */
  backing?: { physicalDevice: string; sectors: number; at: number };
  /** What backs the disk: the `params` node (a path for phy/file). */
  params?: string;
  /** Backend type node: phy, file, qdisk... */
  type?: string;
  hotplugStatus?: string;
  hotplugError?: string;
  features: Record<string, string>;
  counters: Partial<Record<VbdCounter, number>>;
  /** When the frontend and backend both reached Connected. */
  connectedAt?: number;
  /** When rd_req last changed, to see reads stop. */
  readsChangedAt?: number;
}

export interface VcrState {
  domid?: number;
  createdAt?: number;
  createFailed?: string;
  vbds: Map<number, VbdView>;
  /** Whether the domain's device/vbd directory was ever seen. */
  sawVbdDirectory: boolean;
  domainFlags: DomainFlag[];
  domainFlagsAt?: number;
  goneAt?: number;
  consoleTty?: string;
}

/** xenstore changes kept from before `xl create` returns the domid (its devices are written before). */
const MAX_EARLY_CHANGES = 4096;

export class VcrMonitor {
  readonly state: VcrState = { vbds: new Map(), sawVbdDirectory: false, domainFlags: [] };
  #early: { path: string; value: string | null; at: number }[] = [];

  #vbd(device: number): VbdView {
    let v = this.state.vbds.get(device);
    if (!v) {
      v = { device, features: {}, counters: {} };
      this.state.vbds.set(device, v);
    }
    return v;
  }

  apply(signal: Signal): void {
    const s = this.state;
    switch (signal.source) {
      case 'xl':
        if (signal.event === 'created') {
          s.domid = signal.domid;
          s.createdAt = signal.at;
          const early = this.#early;
          this.#early = [];
          for (const c of early) this.#applyXenstore(c.path, c.value, c.at);
        } else {
          s.createFailed = signal.message;
        }
        return;
      case 'xs':
        this.#applyXenstore(signal.path, signal.value, signal.at);
        return;
      case 'vbd': {
        const v = this.#vbd(signal.device);
        if (signal.counter === 'rd_req' && v.counters.rd_req !== signal.value) v.readsChangedAt = signal.at;
        v.counters[signal.counter] = signal.value;
        return;
      }
      case 'backing':
        this.#vbd(signal.device).backing = {
          physicalDevice: signal.physicalDevice,
          sectors: signal.sectors,
          at: signal.at,
        };
        return;
      case 'dom':
        if (signal.flags === 'gone') s.goneAt ??= signal.at;
        else {
          s.domainFlags = signal.flags;
          s.domainFlagsAt = signal.at;
        }
        return;
      default:
        return;
    }
  }

  #applyXenstore(path: string, value: string | null, at: number): void {
    const s = this.state;
    if (s.domid === undefined) {
      if (this.#early.length < MAX_EARLY_CHANGES) this.#early.push({ path, value, at });
      return;
    }
    const front = `/local/domain/${s.domid}/device/vbd`;
    const back = `/local/domain/0/backend/vbd/${s.domid}/`;
    if (path === `/local/domain/${s.domid}/console/tty`) {
      if (value) s.consoleTty = value;
      return;
    }
    if (path === front || path.startsWith(`${front}/`)) {
      if (value !== null) s.sawVbdDirectory = true;
      const [device, node] = path.slice(front.length + 1).split('/');
      if (!device) return;
      const v = this.#vbd(Number(device));
      if (node === 'state' && value !== null) {
        v.frontendState = Number(value);
        v.frontendStateAt = at;
        this.#noteConnected(v, at);
      }
      return;
    }
    if (path.startsWith(back)) {
      const [device, node, ...rest] = path.slice(back.length).split('/');
      if (!device || !node || rest.length > 0) return;
      const v = this.#vbd(Number(device));
      if (value === null) return;
      switch (node) {
        case 'state':
          v.backendState = Number(value);
          v.backendStateAt = at;
          this.#noteConnected(v, at);
          break;
        case 'sectors':
          v.sectors = Number(value);
          break;
        case 'params':
          v.params = value;
          break;
        case 'type':
          v.type = value;
          break;
        case 'hotplug-status':
          v.hotplugStatus = value;
          break;
        case 'hotplug-error':
          v.hotplugError = value;
          break;
        default:
          if (node.startsWith('feature-')) v.features[node] = value;
      }
    }
  }

  #noteConnected(v: VbdView, at: number): void {
    if (
      v.connectedAt === undefined &&
      v.frontendState === XenbusState.Connected &&
      v.backendState === XenbusState.Connected
    ) {
      v.connectedAt = at;
    }
  }
}
