/**
 * VM Boot Fail Detector (paper module 4): decides, for one try, that the guest
 * booted, or failed, from evidence as soon as it appears. The paper waited
 * for hangs at 1 s polls; here the hypervisor's own signals decide, often long
 * before the guest's initramfs gives up (~30 s on Debian).
 */
import type { Evidence } from '../analysis/evidence.js';
import type { Signal } from '../driver/signals.js';
import { wholeDiskDevice } from '../xl/config.js';
import { type VbdView, type VcrMonitor, XenbusState } from './vcr-monitor.js';
import { type ConsoleMatch, type VmConsoleMonitor, severityFor } from './vm-console-monitor.js';

export interface DetectorContext {
  /** The config's kernel command line names a root disk (root=/dev/xvd...). */
  expectsRootDisk: boolean;
  /** Disks the config declares. */
  configuredDisks: number;
  /** Device numbers whose disks the preflight found damaged (DIDF). */
  damagedDevices: ReadonlySet<number>;
  /** The device number of the disk root= is on, when it names one. */
  rootDisk?: number;
  /** Disks the guest's own fstab makes the boot need (systemd mounts them without nofail). */
  neededDevices?: ReadonlySet<number>;
  /** The VM boots with a ramdisk (its initramfs may load drivers the kernel lacks). */
  hasRamdisk?: boolean;
  /** The preflight found neither the kernel nor its ramdisk has xen-blkfront. */
  blockFrontendMissing?: boolean;
  /** How long a damaged, connected disk may see no reads before the try is failed. Default 3000. */
  quietReadsMs?: number;
  /** How long after `xl create` a domain may show no VBD at all. Default 1000. */
  noVbdGraceMs?: number;
  /**
   * A fact the preflight proved that fails this boot whatever the guest does (the
   * root disk will not mount, no block frontend, ...): the try is decided as soon
   * as the domain exists, as the paper decided from dom0-side facts.
   */
  certainFailure?: { reason: string; evidence: Evidence[] };
}

export type BootDecision =
  | { outcome: 'booted'; at: number; evidence: Evidence[] }
  | { outcome: 'failed'; at: number; reason: string; evidence: Evidence[] }
  /** The domain disappeared, and not by our hand. */
  | { outcome: 'vanished'; at: number; evidence: Evidence[] }
  /** Observation broke (xenstored died): no verdict can be trusted. */
  | { outcome: 'observer-lost'; at: number; reason: string; evidence: Evidence[] };

export class VmBootFailDetector {
  /** Everything seen that speaks of a failure, in order. */
  readonly evidence: Evidence[] = [];
  readonly #ctx: Required<Omit<DetectorContext, 'rootDisk' | 'certainFailure' | 'neededDevices'>> &
    Pick<DetectorContext, 'rootDisk' | 'certainFailure' | 'neededDevices'>;
  readonly #flagged = new Set<string>();
  /** When the initramfs said it waits for its root (cue root-wait). */
  #rootWaitAt: number | undefined;

  constructor(
    ctx: DetectorContext,
    private readonly vcr: VcrMonitor,
    private readonly console: VmConsoleMonitor,
  ) {
    this.#ctx = {
      quietReadsMs: 3000,
      noVbdGraceMs: 1000,
      hasRamdisk: false,
      blockFrontendMissing: false,
      ...ctx,
    };
  }

  /** A ramdisk known to lack the driver is no ramdisk for this purpose. */
  get ramdiskMayLoadDrivers(): boolean {
    return this.#ctx.hasRamdisk && !this.#ctx.blockFrontendMissing;
  }

  get firstEvidenceAt(): number | undefined {
    return this.evidence[0]?.at;
  }

  /** Feeds one signal (already applied to the VCR and console monitors' inputs). */
  observe(signal: Signal): BootDecision | undefined {
    this.vcr.apply(signal);
    const matches = this.console.apply(signal);
    return (
      this.#fromSignal(signal) ??
      this.#fromPreflight(signal.at) ??
      this.#fromConsole(matches) ??
      this.#fromVbds(signal.at) ??
      this.#fromMissingVbd(signal.at)
    );
  }

  #note(key: string, e: Evidence): void {
    if (this.#flagged.has(key)) return;
    this.#flagged.add(key);
    this.evidence.push(e);
  }

  #fail(at: number, reason: string): BootDecision {
    return { outcome: 'failed', at, reason, evidence: this.evidence };
  }

  #fromPreflight(now: number): BootDecision | undefined {
    const certain = this.#ctx.certainFailure;
    if (!certain || this.vcr.state.createdAt === undefined) return undefined;
    for (const e of certain.evidence) this.#note(`pre:${e.detail}:${e.value ?? ''}`, { ...e, at: now });
    return this.#fail(now, `decided from the preflight: ${certain.reason}`);
  }

  /** Only the disk the boot needs may fail it; a damaged data disk is a finding on a booted VM. */
  #bootNeeds(device: number): boolean {
    if (this.#ctx.neededDevices?.has(device)) return true;
    const root = this.#ctx.rootDisk;
    return root !== undefined ? device === root : this.#ctx.configuredDisks === 1;
  }

  #fromSignal(signal: Signal): BootDecision | undefined {
    switch (signal.source) {
      case 'xl':
        if (signal.event === 'create-failed') {
          this.#note('xl', {
            source: 'xl',
            at: signal.at,
            detail: 'xl create failed',
            value: signal.message,
          });
          return this.#fail(signal.at, 'xl create failed');
        }
        return undefined;
      case 'dom':
        if (signal.flags === 'gone') {
          this.#note('gone', { source: 'domain', at: signal.at, detail: 'the domain disappeared' });
          return { outcome: 'vanished', at: signal.at, evidence: this.evidence };
        }
        {
          // Shut down before its login: a reboot (a panic with panic=N, a triple fault) or a power-off,
          // kept in view by the test's on_reboot/on_poweroff="preserve".
          const ended = signal.flags.includes('crashed')
            ? { key: 'crashed', detail: 'the domain crashed', reason: 'the domain crashed' }
            : signal.flags.includes('shutdown') && !signal.flags.includes('dying')
              ? {
                  key: 'shutdown',
                  detail: 'the domain shut down (rebooted or powered off) during its boot',
                  reason: 'the domain shut down during its boot',
                }
              : undefined;
          if (ended) {
            const { key, detail, reason } = ended;
            this.#note(key, { source: 'domain', at: signal.at, detail, value: signal.flags.join(',') });
            return this.#fail(signal.at, reason);
          }
        }
        return undefined;
      case 'fault':
        return {
          outcome: 'observer-lost',
          at: signal.at,
          reason: `${signal.what}: ${signal.message}`,
          evidence: this.evidence,
        };
      default:
        return undefined;
    }
  }

  #fromConsole(matches: ConsoleMatch[]): BootDecision | undefined {
    for (const m of matches) {
      const severity = severityFor(m, this.ramdiskMayLoadDrivers);
      if (m.cue === 'root-wait') this.#rootWaitAt ??= m.at;
      if (severity === 'success') {
        return {
          outcome: 'booted',
          at: m.at,
          evidence: [
            { source: 'console', at: m.at, detail: 'the guest reached a login prompt', value: m.line },
          ],
        };
      }
      if (severity === 'fatal' || severity === 'evidence') {
        this.#note(`con:${m.ruleId}:${m.line}`, {
          source: 'console',
          at: m.at,
          detail: m.message ?? m.ruleId,
          value: m.line,
        });
      }
      if (severity === 'fatal') return this.#fail(m.at, m.message ?? m.ruleId);
      // The guest hits the very damage the preflight found on its root disk
      // (e.g. "xvda: p1 ... extends beyond EOD" on an image cut short).
      if (severity === 'evidence' && m.fault === 'DIDF' && this.#namesDamagedRootDisk(m)) {
        return this.#fail(
          m.at,
          'the guest reports damage on its root disk, which was found damaged before boot',
        );
      }
    }
    return undefined;
  }

  #namesDamagedRootDisk(m: ConsoleMatch): boolean {
    const name = m.captures.disk ?? m.captures.device;
    const disk = name === undefined ? undefined : wholeDiskDevice(name);
    return disk !== undefined && disk === this.#ctx.rootDisk && this.#ctx.damagedDevices.has(disk);
  }

  #fromVbds(now: number): BootDecision | undefined {
    for (const v of this.vcr.state.vbds.values()) {
      const decision = this.#judgeVbd(v, now);
      if (decision) return decision;
    }
    return undefined;
  }

  #judgeVbd(v: VbdView, now: number): BootDecision | undefined {
    const domid = this.vcr.state.domid;
    const backend = `/local/domain/0/backend/vbd/${domid}/${v.device}`;
    if (v.hotplugStatus === 'error' || v.hotplugError) {
      this.#note(`hotplug:${v.device}`, {
        source: 'xenstore',
        at: now,
        detail: `the hotplug script failed for VBD ${v.device}`,
        value: `${backend}/hotplug-error=${v.hotplugError ?? ''}`,
      });
      return this.#fail(now, 'the disk hotplug script failed');
    }
    if (v.backing?.sectors === 0 && this.#bootNeeds(v.device) && this.vcr.state.createdAt !== undefined) {
      // The hotplug script attached an empty device: known before the frontend even starts.
      this.#note(`backing0:${v.device}`, {
        source: 'xenstore',
        at: v.backing.at,
        detail: `VBD ${v.device}: the backend's physical device ${v.backing.physicalDevice} has 0 sectors (/sys/dev/block/${v.backing.physicalDevice}/size)`,
        value: `${backend}/physical-device=${v.backing.physicalDevice} params=${v.params ?? '?'}`,
      });
      return this.#fail(now, 'the virtual disk has no backing storage (its block device has 0 sectors)');
    }
    if (v.connectedAt !== undefined && v.sectors === 0 && this.#bootNeeds(v.device)) {
      this.#note(`sectors0:${v.device}`, {
        source: 'xenstore',
        at: now,
        detail: `VBD ${v.device} connected with a backing device of 0 sectors`,
        value: `${backend}/sectors=0 params=${v.params ?? '?'}`,
      });
      return this.#fail(now, 'the virtual disk has no backing storage (0 sectors)');
    }
    const rootWait = this.#judgeRootWait(v, now, backend);
    if (rootWait) return rootWait;
    if (this.#ctx.damagedDevices.has(v.device) && this.#bootNeeds(v.device) && v.connectedAt !== undefined) {
      const reads = v.counters.rd_req ?? 0;
      const since = v.readsChangedAt ?? v.connectedAt;
      if (reads > 0 && now - since >= this.#ctx.quietReadsMs) {
        this.#note(`quiet:${v.device}`, {
          source: 'counters',
          at: now,
          detail: `VBD ${v.device} (found damaged before boot) stopped reading after ${reads} requests, ${now - since} ms ago`,
          value: `rd_req=${reads}`,
        });
        return this.#fail(now, 'the guest stopped reading a damaged disk');
      }
    }
    return undefined;
  }

  /**
   * Debian's initramfs prints "Waiting for root file system" only when the root
   * device is absent or has no filesystem it recognises (scripts/local), after
   * udev has loaded what modules it could. Read with the disk's state, that
   * decides at once what the "Gave up" message would say ~30 s later.
   */
  #judgeRootWait(v: VbdView, now: number, backend: string): BootDecision | undefined {
    if (this.#rootWaitAt === undefined) return undefined;
    const frontend = `/local/domain/${this.vcr.state.domid}/device/vbd/${v.device}/state`;
    if (
      (v.frontendState ?? XenbusState.Unknown) <= XenbusState.Initialising &&
      v.backendState !== undefined
    ) {
      this.#note(`nofrontend:${v.device}`, {
        source: 'xenstore',
        at: now,
        detail: `the initramfs waits for its root, but the guest never started the block frontend of VBD ${v.device}`,
        value: `${frontend}=${v.frontendState ?? 'absent'} ${backend}/state=${v.backendState}`,
      });
      return this.#fail(now, 'the guest kernel and ramdisk have no block-frontend driver');
    }
    if (this.#ctx.damagedDevices.has(v.device) && this.#bootNeeds(v.device) && v.connectedAt !== undefined) {
      this.#note(`rootwait-damaged:${v.device}`, {
        source: 'xenstore',
        at: now,
        detail: `the initramfs finds no root filesystem on VBD ${v.device}, connected, which was found damaged before boot`,
        value: `${backend}/state=${v.backendState ?? '?'} sectors=${v.sectors ?? '?'}`,
      });
      return this.#fail(now, 'the guest finds no filesystem on a damaged disk');
    }
    return undefined;
  }

  #fromMissingVbd(now: number): BootDecision | undefined {
    const { createdAt } = this.vcr.state;
    if (createdAt === undefined || this.vcr.state.sawVbdDirectory || this.vcr.state.vbds.size > 0)
      return undefined;
    if (now - createdAt < this.#ctx.noVbdGraceMs) return undefined;
    this.#note('novbd', {
      source: 'xenstore',
      at: now,
      detail: 'the domain has no virtual block device in xenstore',
      value: `/local/domain/${this.vcr.state.domid}/device/vbd: absent`,
    });
    if (this.#ctx.configuredDisks === 0 && this.#ctx.expectsRootDisk) {
      return this.#fail(now, 'no virtual disk, but the kernel is told to mount one');
    }
    return undefined;
  }
}
