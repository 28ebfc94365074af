/**
 * Replays recorded timelines (one per try) on a virtual clock, so the engine
 * is tested in milliseconds against what real Xen did. Between recorded
 * signals it emits ticks, as the live driver's timers would.
 */
import { readFile } from 'node:fs/promises';
import type { DiskInspection, InspectOptions } from '../disk/inspector.js';
import { VmbootfailError } from '../errors.js';
import type { BootDriver, CreatedDomain, TryObservation } from './driver.js';
import type { Signal } from './signals.js';
import { parseTimeline } from './timeline.js';

export interface ReplayOptions {
  /** Signals of each try, in order; the last one repeats for further tries. */
  tries: Signal[][];
  /** Domains that already exist, by name (pre-check). */
  existingDomains?: Record<string, number>;
  inspectDisk?: (path: string, options?: InspectOptions) => Promise<DiskInspection>;
  /** Period of the virtual timer, like the live driver's. Default 250 ms. */
  tickMs?: number;
  /** Virtual time after which a try's stream ends on its own. Default 1 hour. */
  horizonMs?: number;
}

export class ReplayDriver implements BootDriver {
  readonly kind = 'replay' as const;
  /** Domains destroyed through this driver, in order. */
  readonly destroyed: CreatedDomain[] = [];
  /** Domains created by tries, in order. */
  readonly created: CreatedDomain[] = [];
  readonly #options: ReplayOptions;

  constructor(options: ReplayOptions) {
    if (options.tries.length === 0) throw new Error('ReplayDriver needs at least one try');
    this.#options = options;
  }

  static async fromFiles(files: string[], options: Omit<ReplayOptions, 'tries'> = {}): Promise<ReplayDriver> {
    const tries = await Promise.all(files.map(async (f) => parseTimeline(await readFile(f, 'utf8'), f)));
    return new ReplayDriver({ ...options, tries });
  }

  async findDomainByName(name: string): Promise<number | undefined> {
    return this.#options.existingDomains?.[name];
  }

  startTry(_configPath: string, name: string, tryIndex: number): TryObservation {
    const { tries, tickMs = 250, horizonMs = 3_600_000 } = this.#options;
    const recorded = tries[Math.min(tryIndex, tries.length - 1)] ?? [];
    let stopped = false;
    const created = this.created;
    async function* play(): AsyncGenerator<Signal> {
      let clock = 0;
      // Ticks fall on multiples of tickMs, as a periodic timer's would.
      const nextTick = () => (Math.floor(clock / tickMs) + 1) * tickMs;
      for (const signal of recorded) {
        while (nextTick() < signal.at) {
          clock = nextTick();
          if (stopped) return;
          yield { at: clock, source: 'tick' };
        }
        if (stopped) return;
        clock = signal.at;
        if (signal.source === 'xl' && signal.event === 'created') created.push({ domid: signal.domid, name });
        yield signal;
      }
      while (!stopped && clock < horizonMs) {
        clock = nextTick();
        yield { at: clock, source: 'tick' };
      }
    }
    return {
      signals: play(),
      stop: async () => {
        stopped = true;
      },
    };
  }

  async destroy(domain: CreatedDomain): Promise<void> {
    const ours = this.created.some((c) => c.domid === domain.domid && c.name === domain.name);
    if (!ours) {
      throw new VmbootfailError(
        `refusing to destroy domain ${domain.domid} (${domain.name}): not created by this test`,
        {
          code: 'ERR_NOT_OUR_DOMAIN',
        },
      );
    }
    this.destroyed.push(domain);
  }

  async inspectDisk(path: string, options?: InspectOptions): Promise<DiskInspection> {
    if (!this.#options.inspectDisk) {
      throw new VmbootfailError(`replay: no disk inspector given for ${path}`, {
        code: 'ERR_DISK_NOT_FOUND',
        path,
      });
    }
    return this.#options.inspectDisk(path, options);
  }

  async close(): Promise<void> {}
}
