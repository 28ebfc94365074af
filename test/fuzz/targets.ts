/**
 * Fuzz targets: the xl config parser, the rules loader and the console matcher. Each takes one input and
 * throws only for a real defect: anything but the module's own typed error, or an input that takes
 * longer than its bound. Seeds are the inputs the tests already use.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ConsoleMatcher } from '../../src/analysis/console/matcher.js';
import { type ConsoleRule, DEFAULT_RULES_FILE, parseRules } from '../../src/analysis/console/rules.js';
import { deviceLookup } from '../../src/analysis/guest-boot-needs.js';
import { grubPathInFs, parseFstab, parseGrubConfig } from '../../src/disk/guest-boot-files.js';
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
  'UUID=',
  '\\040',
  'menuentry ',
  ' {',
  '}',
  'set default=',
  'linux /boot/vmlinuz',
];

/**
 * No single input may take longer than this (a backtracking regex or a quadratic loop would): a fixed
 * part plus a part linear in the input's size. The linear part is there because honest work grows with
 * the input: parseRules compiles every rule's pattern, 60-120 ms of CPU for the 64 KB default file, and a
 * mutator that splices the file into itself doubles that; a fixed bound failed CI on such an input
 * (353 ms on a loaded machine) while a super-linear blow-up still overshoots the linear one.
 */
export const PER_INPUT_MS = 250;
export const PER_KIB_MS = 8;

// CPU time, not wall time: a fuzzer niced behind other work is descheduled for longer than this.
function timed(what: string, input: string, run: () => void): void {
  const started = process.cpuUsage();
  run();
  const used = process.cpuUsage(started);
  const ms = (used.user + used.system) / 1000;
  const bound = PER_INPUT_MS + (PER_KIB_MS * input.length) / 1024;
  if (ms > bound)
    throw new Error(
      `${what} took ${ms.toFixed(0)} ms (bound ${bound.toFixed(0)} ms for ${input.length} chars) on ${JSON.stringify(input.slice(0, 200))}`,
    );
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

/** A guest's /etc/fstab or grub config, read from a hostile image: parsed, never thrown on. */
export function bootFilesTarget(text: string): void {
  timed('parseFstab/parseGrubConfig', text, () => {
    const fstab = parseFstab(text);
    if (fstab.entries.length > 512) throw new Error('fstab entries over their bound');
    for (const e of fstab.entries) deviceLookup(e.spec);
    for (const legacy of [false, true]) {
      const grub = parseGrubConfig(text, legacy);
      if (grub.defaultEntry !== undefined && grub.defaultEntry >= Math.max(1, grub.entries.length))
        throw new Error(`default entry ${grub.defaultEntry} outside ${grub.entries.length} entries`);
      for (const e of grub.entries) if (e.kernel) grubPathInFs(e.kernel);
    }
  });
}

let defaults: ConsoleRule[] | undefined;
export function consoleTarget(input: { text: string; chunk: number }): void {
  defaults ??= parseRules(readFileSync(DEFAULT_RULES_FILE, 'utf8'), DEFAULT_RULES_FILE).rules;
  const rules = defaults;
  const found: string[] = [];
  timed('ConsoleMatcher.feed', input.text, () => {
    const m = new ConsoleMatcher(rules, { tailBytes: 4096 });
    const chunk = Math.max(1, input.chunk);
    for (let i = 0; i < input.text.length; i += chunk)
      for (const x of m.feed(Buffer.from(input.text.slice(i, i + chunk), 'latin1'), i)) found.push(x.ruleId);
    if (m.tail().length > 4096) throw new Error('tail over its bound');
  });
  // The required-literal prefilter may only skip work, never a match.
  const all = new ConsoleMatcher(rules, { tailBytes: 4096, prefilter: false });
  const expected: string[] = [];
  const chunk = Math.max(1, input.chunk);
  for (let i = 0; i < input.text.length; i += chunk)
    for (const x of all.feed(Buffer.from(input.text.slice(i, i + chunk), 'latin1'), i))
      expected.push(x.ruleId);
  if (found.join() !== expected.join())
    throw new Error(`prefilter changed the matches: ${found.join()} instead of ${expected.join()}`);
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
export function seeds(): { xl: string[]; rules: string[]; console: string[]; bootFiles: string[] } {
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
    bootFiles: [
      'UUID=0b6a4d2e-4c1e-4f55-9d8a-0a1b2c3d4e5f / ext4 errors=remount-ro 0 1\nLABEL=my\\040disk /data ext4 defaults,x-systemd.device-timeout=5 0 2\n/dev/xvdb1 none swap sw 0 0\n',
      'set default=0\nmenuentry \'Debian GNU/Linux\' --class debian {\n\tlinux /boot/vmlinuz-6.1.0-28-amd64 root=UUID=x ro console=hvc0\n\tinitrd /boot/initrd.img-6.1.0-28-amd64\n}\nsubmenu \'Advanced\' {\n menuentry "a \\"b\\"" { linux16 (hd0,msdos1)/vmlinuz }\n}\n',
      'default 1\ntitle Old\n kernel /vmlinuz-2.6 root=/dev/xvda1\n initrd /initrd-2.6\n',
    ],
  };
}
