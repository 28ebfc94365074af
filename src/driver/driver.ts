/** The one boundary through which the engine creates, destroys and observes a test VM. */
import type { DiskInspection, InspectOptions } from '../disk/inspector.js';
import type { Signal } from './signals.js';

export interface CreatedDomain {
  domid: number;
  name: string;
}

export interface BootDriver {
  readonly kind: 'xen' | 'replay';
  /** The domid of a running domain with this name, if any (pre-check). */
  findDomainByName(name: string): Promise<number | undefined>;
  /**
   * Starts one try: `xl create` of the config, observing from the first byte.
   * Signals (including the xl result) arrive on the returned stream; the
   * stream ends when `stop()` is called.
   */
  startTry(configPath: string, name: string, tryIndex: number): TryObservation;
  /** Destroys a domain this tool created; refuses when domid and name disagree. */
  destroy(domain: CreatedDomain): Promise<void>;
  inspectDisk(path: string, options?: InspectOptions): Promise<DiskInspection>;
  close(): Promise<void>;
}

export interface TryObservation {
  /** Signals in time order; `at` is ms since `xl create` was started. */
  signals: AsyncIterable<Signal>;
  /** Stops observing (closes watches, console readers). Idempotent. */
  stop(): Promise<void>;
}
