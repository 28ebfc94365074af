/**
 * Everything the engine learns about a test VM arrives as a Signal with the
 * time it was seen, in ms since `xl create` was started. The real Xen driver
 * produces them live; the replay driver reads them from recorded timelines.
 */

export type DomainFlag = 'running' | 'blocked' | 'paused' | 'shutdown' | 'crashed' | 'dying';

export const VBD_COUNTERS = ['oo_req', 'rd_req', 'wr_req', 'rd_sect', 'wr_sect'] as const;
export type VbdCounter = (typeof VBD_COUNTERS)[number];

export type Signal =
  /** `xl create` returned: the virtual hardware exists (end of Th). */
  | { at: number; source: 'xl'; event: 'created'; domid: number }
  /** `xl create` failed before a domain existed. */
  | { at: number; source: 'xl'; event: 'create-failed'; message: string }
  /** A xenstore node changed (value null: removed). Paths are absolute. */
  | { at: number; source: 'xs'; path: string; value: string | null }
  /** One VBD counter, from libxenstat or sysfs. */
  | { at: number; source: 'vbd'; device: number; counter: VbdCounter; value: number }
  /**
   * The size of the block device a VBD backend's physical-device names (read in
   * dom0 from /sys/dev/block/<major:minor>/size once the hotplug script wrote it,
   * before the guest's frontend connects).
   */
  | { at: number; source: 'backing'; device: number; physicalDevice: string; sectors: number }
  /** The domain's state flags, or 'gone' when it no longer exists. */
  | { at: number; source: 'dom'; flags: DomainFlag[] | 'gone' }
  /** Raw console text as read (may hold several lines or end mid-line). */
  | { at: number; source: 'con'; text: string }
  /** Nothing happened; lets time-based rules run. */
  | { at: number; source: 'tick' }
  /** Observation itself broke (e.g. what: 'xenstored' when the daemon died). */
  | { at: number; source: 'fault'; what: string; message: string };

export type SignalSource = Signal['source'];
