/**
 * xl domain configuration files (xl.cfg(5)): `key = value` settings separated
 * by newlines or ';', values that are strings ('...' or "..."), numbers or
 * [lists], '#' comments, and `+=` appends. Then a typed view of what the
 * boot test needs: kernel, ramdisk, root, and disks in both spec forms
 * (docs/misc/xl-disk-configuration.txt).
 */
import { VmbootfailError } from '../errors.js';
import { C_ESCAPES } from '../util/printable.js';
import { UnsafeFileError, readTextFile } from '../util/safe-open.js';

export type XlValue = string | number | XlValue[];

export interface XlSetting {
  key: string;
  value: XlValue;
  line: number;
}

export interface XlDisk {
  /** Backing file or device; absent for an empty cdrom. */
  target?: string;
  format?: string;
  /** Guest device name: xvda, hdc, sdb1 ... */
  vdev?: string;
  /** Xen device number (xenstore device/vbd/<device>), when vdev decodes. */
  device?: number;
  access?: string;
  devtype?: string;
  backendtype?: string;
  script?: string;
  /** The spec as written. */
  spec: string;
  index: number;
}

export interface XlConfig {
  file: string;
  settings: Map<string, XlSetting>;
  name?: string;
  type?: string;
  kernel?: string;
  ramdisk?: string;
  bootloader?: string;
  /** The root device the kernel is told to mount (root=, or root= inside extra/cmdline). */
  rootDevice?: string;
  extra?: string;
  memory?: number;
  disks: XlDisk[];
  /** Keys that appear only inside comments (a commented-out `disk = ...`), with line and text. */
  commentedOutKeys: { key: string; line: number; text: string }[];
}

export class XlConfigError extends VmbootfailError {
  constructor(file: string, line: number, col: number, message: string) {
    super(`${file}:${line}:${col}: ${message}`, { code: 'ERR_XL_CONFIG', path: file });
    this.name = 'XlConfigError';
  }
}

const MAX_CONFIG_BYTES = 1024 * 1024;

/** A small tokenizer-parser over the whole text, tracking line and column. */
class Parser {
  #i = 0;
  #line = 1;
  #col = 1;
  readonly comments: { line: number; text: string }[] = [];

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  fail(message: string, at: { line: number; col: number } = { line: this.#line, col: this.#col }): never {
    throw new XlConfigError(this.file, at.line, at.col, message);
  }

  #peek(): string | undefined {
    return this.text[this.#i];
  }

  #next(): string {
    const c = this.text[this.#i++] as string;
    if (c === '\n') {
      this.#line++;
      this.#col = 1;
    } else {
      this.#col++;
    }
    return c;
  }

  /** Skips blanks and comments; newlines too when `newlines`. */
  #skip(newlines: boolean): void {
    for (;;) {
      const c = this.#peek();
      if (c === ' ' || c === '\t' || c === '\r' || (newlines && c === '\n')) this.#next();
      else if (c === '#') {
        const line = this.#line;
        let text = '';
        while (this.#peek() !== undefined && this.#peek() !== '\n') text += this.#next();
        this.comments.push({ line, text });
      } else return;
    }
  }

  parse(): XlSetting[] {
    const settings: XlSetting[] = [];
    for (;;) {
      this.#skip(true);
      if (this.#peek() === ';') {
        this.#next();
        continue;
      }
      if (this.#peek() === undefined) return settings;
      const line = this.#line;
      const key = this.#identifier();
      this.#skip(false);
      let append = false;
      if (this.#peek() === '+') {
        this.#next();
        append = true;
      }
      if (this.#peek() !== '=') this.fail(`expected "=" after ${key}`);
      this.#next();
      this.#skip(false);
      const value = this.#value();
      settings.push({ key, value: append ? ['+=', value] : value, line });
      this.#skip(false);
      const end = this.#peek();
      if (end !== undefined && end !== '\n' && end !== ';')
        this.fail(`unexpected ${JSON.stringify(end)} after the value of ${key}`);
    }
  }

  #identifier(): string {
    let id = '';
    while (/[A-Za-z0-9_]/.test(this.#peek() ?? '')) id += this.#next();
    if (!id || !/^[A-Za-z_]/.test(id))
      this.fail(`expected a setting name, found ${JSON.stringify(this.#peek() ?? 'end of file')}`);
    return id;
  }

  #value(): XlValue {
    const c = this.#peek();
    if (c === '"' || c === "'") return this.#string();
    if (c === '[') return this.#list();
    if (c !== undefined && /[0-9-]/.test(c)) return this.#number();
    return this.fail(
      c === undefined || c === '\n'
        ? 'missing value'
        : `unexpected ${JSON.stringify(c)}: values are strings, numbers or [lists]`,
    );
  }

  /**
   * A quoted string exactly as libxlutil reads it (xen tools/libs/util/libxlu_cfg_l.l, the STRING rules
   * `\'([^\'\\\n]|\\.)*\'` and `\"([^\"\\\n]|\\.)*\"`, then xlu__cfgl_dequote() in libxlu_cfg.c):
   * both quote kinds take the same backslash escapes; a backslash may escape any character but a newline.
   */
  #string(): string {
    const start = { line: this.#line, col: this.#col };
    const quote = this.#next();
    let s = '';
    for (;;) {
      const c = this.#peek();
      if (c === undefined || c === '\n') this.fail('unterminated string', start);
      const at = { line: this.#line, col: this.#col };
      this.#next();
      if (c === quote) return s;
      if (c !== '\\') {
        s += c;
        continue;
      }
      const e = this.#peek();
      if (e === undefined || e === '\n') this.fail('unterminated string', start);
      this.#next();
      s += this.#escape(e, at);
    }
  }

  /**
   * xlu__cfgl_dequote(), including its quirks, so that we read what xl reads:
   * \" \' \\ and \a \b \f \n \r \t \v; \x is always "invalid digit" (it skips one more character, then
   * asks strtoul for more than 2 digits out of a 2-character buffer); an "octal" escape \0-\7 needs
   * strtoul(base 10) to read at least 2 more characters out of the next 3 and then drops them (nothing is
   * written); any other character after a backslash is an error. An error fails the whole config.
   */
  #escape(e: string, at: { line: number; col: number }): string {
    const simple: Record<string, string> = {
      '"': '"',
      "'": "'",
      '\\': '\\',
      a: '\u0007',
      b: '\b',
      f: '\f',
      n: '\n',
      r: '\r',
      t: '\t',
      v: '\v',
    };
    const mapped = simple[e];
    if (mapped !== undefined) return mapped;
    if (e === 'x')
      this.fail('invalid digit after backslash hex numerical character escape in quoted string', at);
    if (e >= '0' && e <= '7') {
      // strtoul over at most 3 characters: blanks, a sign, decimal digits; must consume more than 1.
      const window = this.text.slice(this.#i, this.#i + 3);
      const m = /^[ \t\n\v\f\r]*[+-]?[0-9]+/.exec(window);
      const consumed = m ? m[0].length : 0;
      if (consumed <= 1)
        this.fail('invalid digit after backslash octal numerical character escape in quoted string', at);
      for (let k = 0; k < consumed; k++) {
        if (this.#peek() === '\n') this.fail('unterminated string', at);
        this.#next();
      }
      return '';
    }
    return this.fail('invalid character after backlash in quoted string', at);
  }

  #number(): number {
    const start = { line: this.#line, col: this.#col };
    let raw = '';
    while (/[0-9a-fA-Fx-]/.test(this.#peek() ?? '')) raw += this.#next();
    const n = /^-?0x[0-9a-f]+$/i.test(raw)
      ? Number.parseInt(raw, 16)
      : /^-?\d+$/.test(raw)
        ? Number(raw)
        : Number.NaN;
    if (Number.isNaN(n)) this.fail(`not a number: ${raw}`, start);
    return n;
  }

  #list(): XlValue[] {
    this.#next();
    const items: XlValue[] = [];
    for (;;) {
      this.#skip(true);
      if (this.#peek() === ']') {
        this.#next();
        return items;
      }
      if (this.#peek() === undefined) this.fail('unterminated list: missing "]"');
      items.push(this.#value());
      this.#skip(true);
      const c = this.#peek();
      if (c === ',') this.#next();
      else if (c !== ']')
        this.fail(`expected "," or "]" in a list, found ${JSON.stringify(c ?? 'end of file')}`);
    }
  }
}

const FORMATS = new Set(['raw', 'qcow', 'qcow2', 'vhd', 'qed', 'empty']);
const ACCESS = new Set(['r', 'ro', 'w', 'rw', 'w!', 'rw!']);
const DISK_KEYS = new Set([
  'target',
  'format',
  'vdev',
  'access',
  'devtype',
  'backendtype',
  'backend',
  'script',
  'specification',
]);
const FLAGS = new Set(['cdrom', 'direct-io-safe', 'discard', 'no-discard', 'trusted', 'untrusted', 'colo']);

/** The deprecated `<prefix>:<target>` forms: phy:, file:, tap:aio:, tap2:aio:, aio:, qcow2: ... */
function splitPrefix(target: string): { target: string; format?: string; backendtype?: string } {
  const m = /^(phy|file|tap2?:aio|tap2?:tapdisk|aio|raw|qcow2?|vhd|qed):(.*)$/.exec(target);
  if (!m) return { target };
  const prefix = m[1] as string;
  const rest = m[2] as string;
  if (prefix === 'phy') return { target: rest, format: 'raw', backendtype: 'phy' };
  if (prefix === 'file' || prefix.endsWith('aio') || prefix.endsWith('tapdisk'))
    return { target: rest, format: 'raw' };
  return { target: rest, format: prefix };
}

/** Parses one disk spec, either positional (`phy:/dev/loop6,xvda,w`) or key=value. */
export function parseDiskSpec(spec: string, index: number): XlDisk {
  const disk: XlDisk = { spec, index };
  const tokens = spec.split(',');
  const positional: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = (tokens[i] as string).trim();
    if (token.startsWith('target=')) {
      // target= is last and may itself contain commas.
      disk.target = [token.slice('target='.length), ...tokens.slice(i + 1)].join(',');
      break;
    }
    const eq = token.indexOf('=');
    if (eq > 0 && DISK_KEYS.has(token.slice(0, eq))) {
      const key = token.slice(0, eq);
      const value = token.slice(eq + 1);
      if (key === 'backend') continue;
      if (key === 'specification') continue;
      (disk as unknown as Record<string, string>)[key] = value;
    } else if (FLAGS.has(token)) {
      if (token === 'cdrom') disk.devtype = 'cdrom';
    } else {
      positional.push(token);
    }
  }
  // Positional slots: target, format, vdev, access. An empty field keeps the slot's
  // default; in the deprecated form the format slot is absent, so a non-format there is the vdev.
  let slot = 0;
  for (const token of positional) {
    if (slot === 0) {
      if (token !== '') Object.assign(disk, splitPrefix(token), disk.format ? { format: disk.format } : {});
      slot = 1;
    } else if (slot === 1 && (token === '' || FORMATS.has(token))) {
      if (token !== '') disk.format = token;
      slot = 2;
    } else if (slot <= 2) {
      const [vdev, devtype] = token.split(':');
      if (vdev) disk.vdev = vdev;
      if (devtype) disk.devtype = devtype;
      slot = 3;
    } else if (slot === 3) {
      if (ACCESS.has(token)) disk.access = token;
      slot = 4;
    }
  }
  if (disk.vdev) {
    const device = vdevToDevice(disk.vdev);
    if (device !== undefined) disk.device = device;
  }
  return disk;
}

function diskIndex(letters: string): number {
  let n = 0;
  for (const ch of letters) n = n * 26 + (ch.charCodeAt(0) - 96);
  return n - 1;
}

/** Xen's virtual device number for a vdev name (docs/misc/vbd-interface.txt). */
export function vdevToDevice(vdev: string): number | undefined {
  let m = /^xvd([a-z]+)(\d*)$/.exec(vdev);
  if (m) {
    const disk = diskIndex(m[1] as string);
    const part = m[2] ? Number(m[2]) : 0;
    if (disk < 16 && part < 16) return (202 << 8) | (disk << 4) | part;
    if (part < 256) return (1 << 28) | (disk << 8) | part;
    return undefined;
  }
  m = /^d(\d+)(?:p(\d+))?$/.exec(vdev);
  if (m) {
    const disk = Number(m[1]);
    const part = m[2] ? Number(m[2]) : 0;
    return disk < 16 && part < 16 ? (202 << 8) | (disk << 4) | part : (1 << 28) | (disk << 8) | part;
  }
  m = /^hd([a-d])(\d*)$/.exec(vdev);
  if (m) {
    const disk = diskIndex(m[1] as string);
    const part = m[2] ? Number(m[2]) : 0;
    const major = disk < 2 ? 3 : 22;
    return (major << 8) | ((disk % 2) * 64 + part);
  }
  m = /^sd([a-p])(\d*)$/.exec(vdev);
  if (m) return (8 << 8) | (diskIndex(m[1] as string) << 4) | (m[2] ? Number(m[2]) : 0);
  return undefined;
}

/** The device number of the whole disk a vdev or guest device name (xvda1, /dev/xvda) is on. */
export function wholeDiskDevice(name: string): number | undefined {
  const vdev = name.replace(/^\/dev\//, '');
  const device = vdevToDevice(vdev);
  if (device === undefined) return undefined;
  // Partition bits: 8 in Xen's extended scheme, 6 for IDE (64 minors a disk), 4 otherwise.
  if (device & (1 << 28)) return device & ~0xff;
  return vdev.startsWith('hd') ? device & ~0x3f : device & ~0xf;
}

function asString(setting: XlSetting | undefined, file: string): string | undefined {
  if (!setting) return undefined;
  if (typeof setting.value !== 'string')
    throw new XlConfigError(file, setting.line, 1, `${setting.key} must be a string`);
  return setting.value;
}

function rootFromCmdline(cmdline: string | undefined): string | undefined {
  return cmdline?.match(/(?:^|\s)root=(\S+)/)?.[1];
}

export function parseXlConfig(text: string, file = '<config>'): XlConfig {
  if (text.includes('\0')) throw new XlConfigError(file, 1, 1, 'not a text file (contains NUL bytes)');
  const parser = new Parser(text, file);
  const list = parser.parse();
  const settings = new Map<string, XlSetting>();
  for (const s of list) {
    const prev = settings.get(s.key);
    if (Array.isArray(s.value) && s.value[0] === '+=') {
      const add = s.value[1] as XlValue;
      const base = prev ? (Array.isArray(prev.value) ? prev.value : [prev.value]) : [];
      settings.set(s.key, {
        key: s.key,
        value: [...base, ...(Array.isArray(add) ? add : [add])],
        line: s.line,
      });
    } else {
      settings.set(s.key, s);
    }
  }
  const diskSetting = settings.get('disk');
  let disks: XlDisk[] = [];
  if (diskSetting) {
    const specs = Array.isArray(diskSetting.value) ? diskSetting.value : [diskSetting.value];
    disks = specs.map((spec, i) => {
      if (typeof spec !== 'string')
        throw new XlConfigError(file, diskSetting.line, 1, 'each disk must be a string spec');
      return parseDiskSpec(spec, i);
    });
  }
  const extra = asString(settings.get('extra'), file) ?? asString(settings.get('cmdline'), file);
  const root = asString(settings.get('root'), file);
  const commentedOutKeys = parser.comments.flatMap((c) => {
    const m = /^#+\s*([A-Za-z_][A-Za-z0-9_]*)\s*\+?=/.exec(c.text);
    return m && !settings.has(m[1] as string) ? [{ key: m[1] as string, line: c.line, text: c.text }] : [];
  });
  const memory = settings.get('memory')?.value;
  const config: XlConfig = { file, settings, disks, commentedOutKeys };
  const assign = (key: keyof XlConfig, value: unknown) => {
    if (value !== undefined) (config as unknown as Record<string, unknown>)[key] = value;
  };
  assign('name', asString(settings.get('name'), file));
  assign('type', asString(settings.get('type'), file));
  assign('kernel', asString(settings.get('kernel'), file));
  assign('ramdisk', asString(settings.get('ramdisk'), file));
  assign('bootloader', asString(settings.get('bootloader'), file));
  assign('extra', extra);
  assign('rootDevice', rootFromCmdline(root ? `root=${root}` : undefined) ?? rootFromCmdline(extra));
  assign('memory', typeof memory === 'number' ? memory : undefined);
  return config;
}

/** Reads and parses a config file, with precise errors for missing, directory, empty and oversized files. */
export async function readXlConfig(path: string): Promise<XlConfig> {
  if (typeof path !== 'string' || path.length === 0)
    throw new VmbootfailError('the xl config path must be a non-empty string', {
      code: 'ERR_INVALID_ARGUMENT',
    });
  let text: string;
  try {
    // Type checked before any blocking open, size capped: see src/util/safe-open.ts.
    text = await readTextFile(path, {
      maxBytes: MAX_CONFIG_BYTES,
      code: 'ERR_XL_CONFIG',
      rejectBinary: false,
    });
  } catch (error) {
    if (!(error instanceof UnsafeFileError)) throw error;
    const why =
      error.kind === 'directory'
        ? `${path} is a directory, not an xl config`
        : error.kind === 'file'
          ? `${path} is larger than 1 MiB: not an xl config`
          : error.kind
            ? `${path} is a ${error.kind}, not an xl config`
            : (error.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
              ? `${path} does not exist`
              : error.message;
    throw new VmbootfailError(why, { code: 'ERR_XL_CONFIG', path, cause: error });
  }
  if (text.length === 0) throw new VmbootfailError(`${path} is empty`, { code: 'ERR_XL_CONFIG', path });
  return parseXlConfig(text, path);
}

/**
 * A value written as an xl config string that xl reads back exactly (the escapes of
 * xlu__cfgl_dequote() above): for remedies such as `ramdisk = "..."`. A newline cannot be written
 * raw, and libxlutil has no working numeric escape, so it becomes \n.
 */
export function xlString(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: escaping control characters is the point
  const escaped = value.replace(/[\\"\n\r\t\u0007\b\f\v]/g, (c) =>
    c === '\\' ? '\\\\' : c === '"' ? '\\"' : (C_ESCAPES[c] ?? c),
  );
  return `"${escaped}"`;
}
