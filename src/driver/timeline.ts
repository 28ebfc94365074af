/**
 * Recorded timelines: one signal per line, `<seconds> <source> <key> <value>`.
 *
 *   0.000 xl created 7
 *   1.204 xs /local/domain/7/device/vbd/51712/state "1"
 *   1.250 xs-rm /local/domain/0/backend/vbd/7/51712 -
 *   4.100 vbd 51712/rd_req 54
 *   9.000 dom state blocked
 *  25.300 dom state crashed,shutdown
 *  30.000 dom gone -
 *  12.500 con text "[    1.2] xvda: xvda1\n"
 *   1.200 xl create-failed "xc_dom_find_loader: no loader found"
 *  40.000 fault xenstored "connection reset"
 *
 * Strings are JSON literals, so control characters from a hostile console stay
 * escaped in the file. Lines starting with # are comments.
 */
import { VmbootfailError } from '../errors.js';
import { type DomainFlag, type Signal, VBD_COUNTERS, type VbdCounter } from './signals.js';

const FLAGS = new Set<DomainFlag>(['running', 'blocked', 'paused', 'shutdown', 'crashed', 'dying']);

function fail(file: string, lineNo: number, message: string): never {
  throw new VmbootfailError(`${file}:${lineNo}: ${message}`, { code: 'ERR_TIMELINE', path: file });
}

function jsonString(raw: string, file: string, lineNo: number): string {
  try {
    const v: unknown = JSON.parse(raw);
    if (typeof v === 'string') return v;
  } catch {
    // fall through to the error below
  }
  return fail(file, lineNo, `expected a JSON string, got ${raw.slice(0, 40)}`);
}

export function parseTimeline(text: string, file = '<timeline>'): Signal[] {
  const signals: Signal[] = [];
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    const lineNo = index + 1;
    if (line.trim() === '' || line.startsWith('#')) return;
    const m = /^\s*(\d+(?:\.\d+)?)\s+(\S+)\s+(\S+)(?:\s+(.*))?$/.exec(line);
    if (!m) fail(file, lineNo, 'expected "<seconds> <source> <key> <value>"');
    const [, seconds, source, key, rest = ''] = m;
    const at = Math.round(Number(seconds) * 1000);
    switch (source) {
      case 'xl':
        if (key === 'created')
          signals.push({ at, source: 'xl', event: 'created', domid: Number.parseInt(rest, 10) });
        else if (key === 'create-failed')
          signals.push({ at, source: 'xl', event: 'create-failed', message: jsonString(rest, file, lineNo) });
        else fail(file, lineNo, `unknown xl event ${key}`);
        break;
      case 'xs':
        signals.push({ at, source: 'xs', path: key as string, value: jsonString(rest, file, lineNo) });
        break;
      case 'xs-rm':
        signals.push({ at, source: 'xs', path: key as string, value: null });
        break;
      case 'vbd': {
        const [device, counter] = (key as string).split('/');
        if (!VBD_COUNTERS.includes(counter as VbdCounter))
          fail(file, lineNo, `unknown VBD counter ${counter}`);
        signals.push({
          at,
          source: 'vbd',
          device: Number(device),
          counter: counter as VbdCounter,
          value: Number(rest),
        });
        break;
      }
      case 'backing': {
        const [device, physicalDevice] = (key as string).split('/');
        const sectors = Number(rest);
        if (
          !physicalDevice ||
          !/^[0-9a-f]+:[0-9a-f]+$/i.test(physicalDevice) ||
          !Number.isSafeInteger(sectors)
        )
          fail(file, lineNo, 'expected "backing <device>/<major:minor> <sectors>"');
        signals.push({ at, source: 'backing', device: Number(device), physicalDevice, sectors });
        break;
      }
      case 'dom':
        if (key === 'gone') signals.push({ at, source: 'dom', flags: 'gone' });
        else {
          const flags = rest.trim() === '' ? [] : rest.trim().split(',');
          for (const f of flags)
            if (!FLAGS.has(f as DomainFlag)) fail(file, lineNo, `unknown domain flag ${f}`);
          signals.push({ at, source: 'dom', flags: flags as DomainFlag[] });
        }
        break;
      case 'con':
        signals.push({ at, source: 'con', text: jsonString(rest, file, lineNo) });
        break;
      case 'tick':
        signals.push({ at, source: 'tick' });
        break;
      case 'fault':
        signals.push({ at, source: 'fault', what: key as string, message: jsonString(rest, file, lineNo) });
        break;
      default:
        fail(file, lineNo, `unknown source ${source}`);
    }
  });
  signals.sort((a, b) => a.at - b.at);
  return signals;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

export function formatSignal(s: Signal): string {
  const t = seconds(s.at);
  switch (s.source) {
    case 'xl':
      return s.event === 'created'
        ? `${t} xl created ${s.domid}`
        : `${t} xl create-failed ${JSON.stringify(s.message)}`;
    case 'xs':
      return s.value === null ? `${t} xs-rm ${s.path} -` : `${t} xs ${s.path} ${JSON.stringify(s.value)}`;
    case 'vbd':
      return `${t} vbd ${s.device}/${s.counter} ${s.value}`;
    case 'backing':
      return `${t} backing ${s.device}/${s.physicalDevice} ${s.sectors}`;
    case 'dom':
      return s.flags === 'gone' ? `${t} dom gone -` : `${t} dom state ${s.flags.join(',')}`;
    case 'con':
      return `${t} con text ${JSON.stringify(s.text)}`;
    case 'tick':
      return `${t} tick - -`;
    case 'fault':
      return `${t} fault ${s.what} ${JSON.stringify(s.message)}`;
  }
}

export function formatTimeline(signals: Signal[], header: string[] = []): string {
  return `${[...header.map((h) => `# ${h}`), ...signals.map(formatSignal)].join('\n')}\n`;
}
