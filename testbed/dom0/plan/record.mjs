#!/usr/bin/env node
/**
 * Standalone timeline recorder for one `xl create`, run in dom0 by run-plan.sh.
 * No dependencies (Node >= 18): it speaks the xenstore wire protocol on
 * xenstored's socket itself, so it needs neither the project's addon nor a
 * process per sample (shell polling costs ~5 s a sample under TCG).
 *
 * Output: the format of src/driver/timeline.ts, one event per line,
 *   <seconds.mmm> <source> <key> <value>
 * times in seconds after `xl create` was started, strings as JSON literals
 * (no raw control characters). Signals:
 *   xl created <domid> | xl create-failed "<stderr>"        when `xl create` returned (Th)
 *   xs <path> "<value>" | xs-rm <path> -                     watch on /local/domain: the
 *        domain's device/ and console/tty, and /local/domain/0/backend/vbd/<domid>/
 *   vbd <vdev>/<counter> <n>                                 /sys/bus/xen-backend/devices/vbd-<domid>-<vdev>/statistics
 *   backing <vdev>/<major:minor> <sectors>                   /sys/dev/block/<major:minor>/size once the backend's
 *        physical-device names it
 *   dom state <flags> | dom gone -                           xentop -b (libxenstat), on change
 *   con text "<line>"                                        xenconsoled's guest log, one event per line
 *
 * It stops `--after-end` seconds after "login:", an "(initramfs)" prompt, an
 * emergency shell (systemd's sulogin, dracut's shell), a crash or the domain's
 * disappearance, or at `--until` seconds. It never
 * destroys the domain: run-plan.sh does.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';

/** Carriage returns and terminal control sequences (ESC [ ... letter), dropped before matching prompts. */
const TERMINAL_CODES = new RegExp(`\\r|${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g');

const { values: opt } = parseArgs({
  options: {
    config: { type: 'string' },
    name: { type: 'string' },
    out: { type: 'string' },
    'xl-log': { type: 'string' },
    until: { type: 'string', default: '180' },
    'after-end': { type: 'string', default: '3' },
    'console-dir': { type: 'string', default: '/var/log/xen/console' },
    'poll-ms': { type: 'string', default: '200' },
    'create-timeout': { type: 'string', default: '120' },
    header: { type: 'string', multiple: true, default: [] },
  },
});
for (const k of ['config', 'name', 'out']) {
  if (!opt[k]) {
    console.error(`record.mjs: --${k} is required`);
    process.exit(2);
  }
}
const NAME = opt.name;
const UNTIL_MS = Number(opt.until) * 1000;
const AFTER_END_MS = Number(opt['after-end']) * 1000;
const POLL_MS = Number(opt['poll-ms']);
const CONSOLE_LOG = `${opt['console-dir']}/guest-${NAME}.log`;

const t0 = performance.now();
const now = () => performance.now() - t0;
const events = []; // { at, line }
const push = (at, line) => events.push({ at, line });

/** JSON string literal with C1 controls and DEL escaped too (values are read as latin1). */
function q(s) {
  return JSON.stringify(s).replace(
    /[\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

// ------------------------------------------------------------------ xenstore
const XS_DIRECTORY = 1;
const XS_READ = 2;
const XS_WATCH = 4;
const XS_WATCH_EVENT = 15;
const XS_ERROR = 16;

class XenStore {
  #buf = Buffer.alloc(0);
  #pending = new Map();
  #next = 1;
  #write;
  onWatch = () => {};
  onClose = () => {};

  async connect() {
    for (const path of ['/run/xenstored/socket', '/var/run/xenstored/socket']) {
      try {
        const sock = await new Promise((resolve, reject) => {
          const s = net.connect(path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        sock.on('data', (d) => this.#data(d));
        sock.on('close', () => this.onClose());
        sock.on('error', () => undefined);
        this.#write = (b) => sock.write(b);
        this.close = () => sock.destroy();
        return path;
      } catch {
        // try the next transport
      }
    }
    // The kernel's xenbus device speaks the same protocol.
    const fd = fs.openSync('/dev/xen/xenbus', 'r+');
    const stream = fs.createReadStream(null, { fd, autoClose: false, highWaterMark: 65536 });
    stream.on('data', (d) => this.#data(d));
    stream.on('error', () => this.onClose());
    this.#write = (b) => fs.writeSync(fd, b);
    this.close = () => {
      stream.destroy();
      try {
        fs.closeSync(fd);
      } catch {}
    };
    return '/dev/xen/xenbus';
  }

  #data(chunk) {
    this.#buf = Buffer.concat([this.#buf, chunk]);
    while (this.#buf.length >= 16) {
      const type = this.#buf.readUInt32LE(0);
      const id = this.#buf.readUInt32LE(4);
      const len = this.#buf.readUInt32LE(12);
      if (this.#buf.length < 16 + len) break;
      const body = this.#buf.subarray(16, 16 + len);
      this.#buf = this.#buf.subarray(16 + len);
      if (type === XS_WATCH_EVENT) {
        const [path, token] = body.toString('latin1').split('\0');
        this.onWatch(path, token);
        continue;
      }
      const p = this.#pending.get(id);
      if (!p) continue;
      this.#pending.delete(id);
      if (type === XS_ERROR) p.reject(new Error(body.toString('latin1').replace(/\0+$/, '')));
      else p.resolve(body);
    }
  }

  #request(type, ...args) {
    const payload = Buffer.from(args.map((a) => `${a}\0`).join(''), 'latin1');
    const header = Buffer.alloc(16);
    const id = this.#next++;
    header.writeUInt32LE(type, 0);
    header.writeUInt32LE(id, 4);
    header.writeUInt32LE(0, 8);
    header.writeUInt32LE(payload.length, 12);
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#write(Buffer.concat([header, payload]));
    });
  }

  /** The value, or null when the node does not exist. */
  async read(path) {
    try {
      return (await this.#request(XS_READ, path)).toString('latin1');
    } catch (e) {
      if (e.message === 'ENOENT') return null;
      throw e;
    }
  }

  async directory(path) {
    try {
      const body = (await this.#request(XS_DIRECTORY, path)).toString('latin1');
      return body.split('\0').filter((s) => s !== '');
    } catch (e) {
      if (e.message === 'ENOENT') return [];
      throw e;
    }
  }

  watch(path, token) {
    return this.#request(XS_WATCH, path, token);
  }
}

// ------------------------------------------------------------------ state
let domid; // our domain, once known
let endedBy; // why recording stops
let endAt = Number.POSITIVE_INFINITY;
let createdAt; // Th
const preexisting = new Set();
const checking = new Set();
const early = []; // xenstore changes seen before domid was known: { at, id, path, value }
const lastXs = new Map();
let consoleTail = '';
let lastFlags;
let goneSent = false;
const timers = [];
function gone(at) {
  if (goneSent) return;
  goneSent = true;
  push(at, 'dom gone -');
  end('gone', at, 0);
}

function end(reason, at, grace = AFTER_END_MS) {
  if (endedBy) return;
  endedBy = reason;
  endAt = at + grace;
}

function ours(path) {
  return (
    path === `/local/domain/${domid}/device` ||
    path.startsWith(`/local/domain/${domid}/device/`) ||
    path === `/local/domain/${domid}/console/tty` ||
    path === `/local/domain/0/backend/vbd/${domid}` ||
    path.startsWith(`/local/domain/0/backend/vbd/${domid}/`)
  );
}

function recordXs(at, path, value) {
  if (!ours(path)) return;
  if (lastXs.has(path) ? lastXs.get(path) === value : value === null) return;
  lastXs.set(path, value);
  push(at, value === null ? `xs-rm ${path} -` : `xs ${path} ${q(value)}`);
  recordBacking(at, path, value);
}

// The block hotplug script names the device it attached as hex "major:minor"; its size in
// sysfs is what the live driver reads too (src/driver/xen-driver.ts backingSectors).
function recordBacking(at, path, value) {
  const m = /^\/local\/domain\/0\/backend\/vbd\/\d+\/(\d+)\/physical-device$/.exec(path);
  const dev = m && value ? /^([0-9a-f]{1,8}):([0-9a-f]{1,8})$/i.exec(value.trim()) : null;
  if (!dev) return;
  const physical = `${Number.parseInt(dev[1], 16)}:${Number.parseInt(dev[2], 16)}`;
  let sectors;
  try {
    sectors = Number(fs.readFileSync(`/sys/dev/block/${physical}/size`, 'latin1').trim());
  } catch {
    return;
  }
  if (Number.isSafeInteger(sectors)) push(at, `backing ${m[1]}/${physical} ${sectors}`);
}

/** Which guest domain a path is about, or undefined. */
function domainOf(path) {
  const b = /^\/local\/domain\/0\/backend\/vbd\/(\d+)(\/|$)/.exec(path);
  if (b) return Number(b[1]);
  const m = /^\/local\/domain\/(\d+)(\/|$)/.exec(path);
  if (m && m[1] !== '0') return Number(m[1]);
  return undefined;
}

const xs = new XenStore();

async function adopt(id) {
  if (domid !== undefined || preexisting.has(id) || checking.has(id)) return;
  checking.add(id);
  try {
    const name = await xs.read(`/local/domain/${id}/name`);
    if (name !== NAME || domid !== undefined) return;
    domid = id;
    for (const e of early.splice(0)) if (e.id === id) recordXs(e.at, e.path, e.value);
    // Anything written before our watch was set up.
    for (const root of [`/local/domain/${id}/device`, `/local/domain/0/backend/vbd/${id}`])
      await snapshot(root);
    const tty = await xs.read(`/local/domain/${id}/console/tty`);
    if (tty !== null) recordXs(now(), `/local/domain/${id}/console/tty`, tty);
  } finally {
    checking.delete(id);
  }
}

async function snapshot(path) {
  const at = now();
  const value = await xs.read(path);
  if (value === null) return;
  if (!lastXs.has(path)) recordXs(at, path, value);
  for (const child of await xs.directory(path)) await snapshot(`${path}/${child}`);
}

xs.onWatch = (path) => {
  const at = now();
  if (path === '@releaseDomain') {
    if (domid !== undefined)
      void xs.read(`/local/domain/${domid}/name`).then((n) => {
        if (n === null) gone(now());
      });
    return;
  }
  if (path.startsWith('@')) return;
  const id = domainOf(path);
  if (id === undefined || preexisting.has(id)) return;
  if (domid !== undefined && id !== domid) return;
  void xs.read(path).then(
    (value) => {
      if (domid === id) recordXs(at, path, value);
      else if (domid === undefined) {
        early.push({ at, id, path, value });
        void adopt(id);
      }
    },
    () => undefined,
  );
};
xs.onClose = () => {
  push(now(), `fault xenstored ${q('connection to xenstored closed')}`);
  end('fault', now(), 0);
};

// ------------------------------------------------------------------ VBD counters (sysfs)
const COUNTERS = ['oo_req', 'rd_req', 'wr_req', 'rd_sect', 'wr_sect'];
const lastVbd = new Map();
function pollVbd() {
  if (domid === undefined) return;
  const at = now();
  let entries = [];
  try {
    entries = fs.readdirSync('/sys/bus/xen-backend/devices');
  } catch {
    return;
  }
  for (const e of entries) {
    const m = /^vbd-(\d+)-(\d+)$/.exec(e);
    if (!m || Number(m[1]) !== domid) continue;
    for (const c of COUNTERS) {
      let v;
      try {
        v = Number(fs.readFileSync(`/sys/bus/xen-backend/devices/${e}/statistics/${c}`, 'latin1').trim());
      } catch {
        continue;
      }
      const key = `${m[2]}/${c}`;
      if (lastVbd.get(key) === v) continue;
      lastVbd.set(key, v);
      push(at, `vbd ${key} ${v}`);
    }
  }
}

// ------------------------------------------------------------------ domain state (xentop = libxenstat)
const FLAG_ORDER = [
  ['r', 'running'],
  ['b', 'blocked'],
  ['p', 'paused'],
  ['s', 'shutdown'],
  ['c', 'crashed'],
  ['d', 'dying'],
];
let seenInXentop = false;
let listedThisRound = false;
function domState(at, letters) {
  const flags = FLAG_ORDER.filter(([l]) => letters.includes(l)).map(([, f]) => f);
  const text = flags.join(',');
  if (text !== lastFlags) {
    lastFlags = text;
    push(at, `dom state ${text}`);
  }
  if (flags.includes('crashed')) end('crash', at);
}
let xentop;
let xentopLines = 0;
function startXentop() {
  // -f: full names (xentop cuts them to 10 characters otherwise); it flushes every round.
  xentop = spawn('xentop', ['-b', '-f', '-d', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let partial = '';
  xentop.stdout.setEncoding('latin1');
  xentop.stderr.on('data', (d) => process.stderr.write(`xentop: ${d}`));
  xentop.stdout.on('data', (chunk) => {
    const at = now();
    const lines = (partial + chunk).split('\n');
    partial = lines.pop();
    for (const line of lines) {
      xentopLines++;
      const f = line.trim().split(/\s+/);
      if (f[0] === 'NAME') {
        // a new round: our domain missing from the last one means it is gone
        if (seenInXentop && !listedThisRound) gone(at);
        listedThisRound = false;
        continue;
      }
      if (f[0] === NAME && f[1]) {
        seenInXentop = true;
        listedThisRound = true;
        domState(at, f[1]);
      }
    }
  });
  xentop.on('error', (e) => process.stderr.write(`xentop: ${e.message}\n`));
  xentop.on('exit', (code, signal) => {
    if (endedBy && now() >= endAt) return;
    process.stderr.write(
      `xentop exited (${code ?? signal}) after ${xentopLines} lines; polling 'xl list' instead\n`,
    );
    pollXlList();
  });
}
/** Fallback for the domain state: `xl list <domid>` once a second. */
function pollXlList() {
  const timer = setInterval(() => {
    if (domid === undefined) return;
    const child = spawn('xl', ['list', String(domid)], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.on('close', (code) => {
      const at = now();
      if (code !== 0) return gone(at);
      const row = out.split('\n').find((l) => l.startsWith(`${NAME} `));
      const state = row?.trim().split(/\s+/)[4];
      if (state) domState(at, state);
    });
  }, 1000);
  timers.push(timer);
}

// ------------------------------------------------------------------ console (xenconsoled's guest log)
let conFd;
const conBuf = Buffer.alloc(65536);
/** New console bytes, one event per line; an unfinished line (a prompt) is emitted as it is. */
function pollConsole() {
  if (conFd === undefined) {
    try {
      conFd = fs.openSync(CONSOLE_LOG, 'r');
    } catch {
      return;
    }
  }
  const at = now();
  let text = '';
  for (;;) {
    const n = fs.readSync(conFd, conBuf, 0, conBuf.length, null);
    if (n <= 0) break;
    text += conBuf.subarray(0, n).toString('latin1');
  }
  if (text === '') return;
  for (const piece of text.split(/(?<=\n)/)) push(at, `con text ${q(piece)}`);
  // Prompts may be followed by terminal queries: busybox ash prints "(initramfs) \x1b[6n".
  consoleTail = (consoleTail + text).slice(-512).replace(TERMINAL_CODES, '');
  if (/\S+ login: ?$/.test(consoleTail)) end('login', at);
  else if (/\(initramfs\) ?$/.test(consoleTail)) end('initramfs-shell', at);
  // systemd's emergency mode: sulogin with a locked root ("Press Enter to continue.\r\n"), or asking
  // for the root password; dracut's emergency shell (sulogin -e).
  else if (
    /(Press Enter to continue\.|\(or press Control-D to continue\): |dracut:\/# )\s*$/.test(consoleTail)
  )
    end('emergency-shell', at);
}

// ------------------------------------------------------------------ main
async function main() {
  try {
    fs.unlinkSync(CONSOLE_LOG);
  } catch {}
  const transport = await xs.connect();
  for (const id of await xs.directory('/local/domain')) preexisting.add(Number(id));
  await xs.watch('/local/domain', 'vmbf');
  await xs.watch('@releaseDomain', 'vmbf');
  startXentop();
  timers.push(
    setInterval(pollVbd, POLL_MS),
    setInterval(() => pollConsole(), 100),
  );

  // `xl create` itself; t=0 is just before it starts.
  const created = new Promise((resolve) => {
    const start = now();
    const child = spawn('xl', ['create', opt.config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), Number(opt['create-timeout']) * 1000);
    child.on('error', (e) => {
      clearTimeout(killer);
      resolve({ at: now(), code: -1, out: String(e), start });
    });
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ at: now(), code: signal ? `signal ${signal}` : code, out, start });
    });
  });
  const c = await created;
  if (opt['xl-log'])
    fs.writeFileSync(
      opt['xl-log'],
      `xl create ${opt.config}: exit ${c.code} after ${(c.at / 1000).toFixed(3)} s\n${c.out}`,
    );
  if (c.code !== 0) {
    const message = c.out.trim() || `xl create exited ${c.code}`;
    push(c.at, `xl create-failed ${q(message)}`);
    end('create-failed', c.at, 0);
  } else {
    if (domid === undefined) {
      for (const id of await xs.directory('/local/domain')) await adopt(Number(id));
    }
    if (domid === undefined) {
      push(c.at, `xl create-failed ${q(`xl create succeeded but no domain named ${NAME} exists`)}`);
      end('create-failed', c.at, 0);
    } else {
      createdAt = c.at;
      push(c.at, `xl created ${domid}`);
    }
  }

  while (now() < endAt) {
    if (!endedBy && now() >= UNTIL_MS) end('time-limit', now(), 0);
    await new Promise((r) => setTimeout(r, 100));
  }
  pollVbd();
  pollConsole();
  for (const t of timers) clearInterval(t);
  xentop?.kill();
  xs.close();

  events.sort((a, b) => a.at - b.at);
  const header = [
    ...opt.header,
    `recorded by testbed/dom0/plan/record.mjs (xenstore via ${transport}, counters from sysfs every ${POLL_MS} ms, domain state from xentop every 1 s, console from ${CONSOLE_LOG})`,
    `times are seconds after 'xl create' started; domid ${domid ?? '-'}; ended by ${endedBy} at ${(Math.min(endAt, now()) / 1000).toFixed(3)} s`,
  ];
  const text = `${[...header.map((h) => `# ${h}`), ...events.map((e) => `${(e.at / 1000).toFixed(3)} ${e.line}`)].join('\n')}\n`;
  fs.writeFileSync(opt.out, text);
  const summary = {
    name: NAME,
    domid: domid ?? null,
    th: createdAt !== undefined ? +(createdAt / 1000).toFixed(3) : null,
    endedBy,
    endAt: +(Math.min(endAt, now()) / 1000).toFixed(3),
    events: events.length,
  };
  console.log(JSON.stringify(summary));
  process.exit(0);
}

main().catch((e) => {
  console.error(`record.mjs: ${e.stack || e}`);
  process.exit(1);
});
