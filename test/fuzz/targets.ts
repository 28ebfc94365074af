/**
 * Fuzz targets: the xl config parser, the rules loader and the console matcher. Each takes one input and
 * throws only for a real defect: anything but the module's own typed error, or an input that takes
 * longer than its bound. Seeds are the inputs the tests already use.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ConsoleMatcher } from '../../src/analysis/console/matcher.js';
import { type ConsoleRule, DEFAULT_RULES_FILE, parseRules } from '../../src/analysis/console/rules.js';
import { VmbootfailError } from '../../src/errors.js';
import { parseXlConfig } from '../../src/xl/config.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** What the mutators insert: the bytes and tokens the three formats give meaning to. */
export const SPICE: readonly string[] = [
  '\n',
  '\r',
  '\0',
  '\u001b[2J',
  '"',
  "'",
  '\\',
  '\\x',
  '\\0',
  '[',
  ']',
  ',',
  '=',
  '+=',
  '#',
  ':',
  '-',
  '(',
  ')+',
  '*',
  '{9999}',
  '\u2028',
  '\uffff',
  '\ud800',
  '?',
  '|',
  'disk',
  'match: ',
  'root=',
  'EXT4-fs (xvda1): ',
  'login: ',
];

/** No single input may take longer than this (a backtracking regex or a quadratic loop would). */
export const PER_INPUT_MS = 250;

// CPU time, not wall time: a fuzzer niced behind other work is descheduled for longer than this.
function timed(what: string, input: string, run: () => void): void {
  const started = process.cpuUsage();
  run();
  const used = process.cpuUsage(started);
  const ms = (used.user + used.system) / 1000;
  if (ms > PER_INPUT_MS)
    throw new Error(`${what} took ${ms.toFixed(0)} ms on ${JSON.stringify(input.slice(0, 200))}`);
}

export function xlConfigTarget(text: string): void {
  timed('parseXlConfig', text, () => {
    try {
      const config = parseXlConfig(text, 'fuzz.cfg');
      for (const disk of config.disks)
        if (typeof disk.spec !== 'string') throw new Error('disk without spec');
    } catch (error) {
      if (!(error instanceof VmbootfailError && error.code === 'ERR_XL_CONFIG')) throw error;
    }
  });
}

export function rulesTarget(text: string): void {
  timed('parseRules', text, () => {
    try {
      parseRules(text, 'fuzz.yaml');
    } catch (error) {
      if (!(error instanceof VmbootfailError && error.code === 'ERR_RULES')) throw error;
      if (!/^fuzz\.yaml:\d+:\d+: /.test(error.message))
        throw new Error(`no file:line:col in ${error.message}`);
    }
  });
}

let defaults: ConsoleRule[] | undefined;
export function consoleTarget(input: { text: string; chunk: number }): void {
  defaults ??= parseRules(readFileSync(DEFAULT_RULES_FILE, 'utf8'), DEFAULT_RULES_FILE).rules;
  const rules = defaults;
  timed('ConsoleMatcher.feed', input.text, () => {
    const m = new ConsoleMatcher(rules, { tailBytes: 4096 });
    const chunk = Math.max(1, input.chunk);
    for (let i = 0; i < input.text.length; i += chunk)
      m.feed(Buffer.from(input.text.slice(i, i + chunk), 'latin1'), i);
    if (m.tail().length > 4096) throw new Error('tail over its bound');
  });
}

function files(dir: string, ext: RegExp): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => ext.test(n))
      .map((n) => readFileSync(path.join(dir, n), 'utf8'));
  } catch {
    return [];
  }
}

/** Seeds from the tests' own inputs. */
export function seeds(): { xl: string[]; rules: string[]; console: string[] } {
  const consoles = [
    ...files(path.join(ROOT, 'test/fixtures/timelines'), /\.console\.txt$/),
    ...files(path.join(ROOT, 'test/fixtures/consoles'), /\.txt$/),
  ].map((t) => t.slice(0, 16_384));
  return {
    xl: [
      'name = "web01"\ntype = "pv"\nkernel = "/boot/vmlinuz-6.1.0-13-amd64"\nramdisk = "/boot/initrd.img-6.1.0-13-amd64"\nmemory = 512\nextra = "root=/dev/xvda1 console=hvc0"\ndisk = [ \'format=raw, vdev=xvda, access=rw, target=/var/lib/xen/images/web01.img\' ]\n',
      "name = 'g'\n#disk = [ 'phy:/dev/vg0/g,xvda,w' ]\nroot = \"/dev/xvda1\"\ndisk += [ 'file:/img,xvdb,r' ]; vcpus = 0x2\n",
      String.raw`kernel = 'it\'s "\\" \r\n\t\a\101' ; cmdline = "root=UUID=x"`,
    ],
    rules: [
      readFileSync(DEFAULT_RULES_FILE, 'utf8'),
      'version: 1\ndisable: [panic]\nrules:\n  - id: a\n    severity: fatal\n    category: OTHER\n    match: "(?<x>a+)+$"\n',
    ],
    console: consoles.length > 0 ? consoles : ['Kernel panic - not syncing: VFS: Unable to mount root fs\n'],
  };
}
