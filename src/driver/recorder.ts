/**
 * Records what a driver observes during one boot into a timeline: the
 * fixtures the replay driver plays back. Stops at login, a crash, the
 * domain's disappearance or the time limit.
 */
import type { BootDriver, CreatedDomain } from './driver.js';
import type { Signal } from './signals.js';

export interface RecordOptions {
  untilMs: number;
  /** Keep recording this long after login/crash, to catch what follows. Default 2000. */
  afterEndMs?: number;
  signal?: AbortSignal;
}

export interface Recording {
  signals: Signal[];
  created?: CreatedDomain;
  endedBy: 'login' | 'crash' | 'gone' | 'time-limit' | 'create-failed' | 'fault' | 'aborted';
}

export async function recordBoot(
  driver: BootDriver,
  configPath: string,
  name: string,
  options: RecordOptions,
): Promise<Recording> {
  const observation = driver.startTry(configPath, name, 0);
  const signals: Signal[] = [];
  let created: CreatedDomain | undefined;
  let endedBy: Recording['endedBy'] | undefined;
  let endAt = Number.POSITIVE_INFINITY;
  let consoleTail = '';
  const onAbort = () => void observation.stop();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const s of observation.signals) {
      if (s.source !== 'tick') signals.push(s);
      if (s.source === 'xl' && s.event === 'created') created = { domid: s.domid, name };
      if (!endedBy) {
        if (s.source === 'xl' && s.event === 'create-failed') endedBy = 'create-failed';
        else if (s.source === 'fault') endedBy = 'fault';
        else if (s.source === 'dom' && s.flags === 'gone') endedBy = 'gone';
        else if (s.source === 'dom' && s.flags.includes('crashed')) endedBy = 'crash';
        else if (s.source === 'con') {
          consoleTail = (consoleTail + s.text).slice(-256);
          if (/\S+ login: ?$/.test(consoleTail)) endedBy = 'login';
        }
        if (endedBy)
          endAt = s.at + (endedBy === 'login' || endedBy === 'crash' ? (options.afterEndMs ?? 2000) : 0);
      }
      if (!endedBy && s.at >= options.untilMs) {
        endedBy = 'time-limit';
        endAt = s.at;
      }
      if (s.at >= endAt) break;
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await observation.stop();
  }
  return { signals, ...(created ? { created } : {}), endedBy: endedBy ?? 'aborted' };
}
