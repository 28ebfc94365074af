/**
 * What a guest's own files say its boot needs, read from the image (never
 * mounted on dom0): /etc/fstab, the init it runs, and the grub config pygrub
 * reads. Parsed here rather than with a library: no Node or Debian library parses
 * fstab(5) or grub.cfg the way systemd-fstab-generator and pygrub do, and these
 * parsers take only the few fields those two programs act on.
 */

/** One line of /etc/fstab (fstab(5)): fields split on blanks, \040-style octal escapes decoded. */
export interface FstabEntry {
  /** The first field: UUID=..., LABEL=..., PARTUUID=..., /dev/..., a network share, ... */
  spec: string;
  /** The mount point (or "none"/"swap"). */
  file: string;
  vfstype: string;
  options: string[];
  passno: number;
  /** 1-based line number in the file. */
  line: number;
}

export interface GrubEntry {
  title: string;
  /** The `linux` line's kernel path, relative to the filesystem grub reads it from. */
  kernel?: string;
  initrd?: string;
  args?: string;
  /** Whether the kernel and initrd exist in the filesystem the config is in. */
  kernelFound?: boolean;
  initrdFound?: boolean;
}

export interface GuestBootFiles {
  /** The fstab's path in the image, when there is one. */
  fstab?: { entries: FstabEntry[]; truncated: boolean };
  /** Whether /sbin/init is systemd (the same file as lib/systemd/systemd). */
  init?: 'systemd' | 'other';
  /** The grub config pygrub would read, with the entry it boots by default. */
  grub?: {
    file: string;
    entries: GrubEntry[];
    /** Index into entries of `set default=`: 0 when unset; undefined when it names a title or a variable. */
    defaultEntry?: number;
  };
}

const MAX_FSTAB_ENTRIES = 512;

function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

/** fstab(5): '#' comments, blank lines skipped, fields on spaces and tabs; missing fields default. */
export function parseFstab(text: string): { entries: FstabEntry[]; truncated: boolean } {
  const entries: FstabEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]?.trim() ?? '';
    if (raw === '' || raw.startsWith('#')) continue;
    if (entries.length >= MAX_FSTAB_ENTRIES) return { entries, truncated: true };
    const fields = raw.split(/[ \t]+/).map(unescapeOctal);
    const [spec, file, vfstype, options, , passno] = fields;
    if (!spec || !file) continue; // libmount skips a line it cannot parse; so does this
    entries.push({
      spec,
      file,
      vfstype: vfstype ?? 'auto',
      options: (options ?? 'defaults').split(','),
      passno: Number.parseInt(passno ?? '0', 10) || 0,
      line: i + 1,
    });
  }
  return { entries, truncated: false };
}

/** The words of a grub command line: quotes and backslashes as grub's lexer takes them. */
function grubWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (c === ' ' || c === '\t') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/**
 * The menu entries of a grub 2 config as pygrub's GrubConf.Grub2ConfigFile
 * reads them (tools/pygrub/src/GrubConf.py, Xen 4.17): `menuentry` blocks with
 * their `linux`/`linux16` and `initrd`/`initrd16` lines, `set default=`;
 * submenus are flattened in order. Also grub-legacy menu.lst (`title`,
 * `kernel`, `initrd`, `default`).
 */
export function parseGrubConfig(
  text: string,
  legacy: boolean,
): { entries: GrubEntry[]; defaultEntry?: number } {
  const entries: GrubEntry[] = [];
  let defaultEntry: number | undefined = 0;
  let current: GrubEntry | undefined;
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const words = grubWords(line);
    const [cmd, ...rest] = words;
    if (!cmd) continue;
    if (legacy) {
      if (cmd === 'title') {
        current = { title: line.slice(5).trim() };
        entries.push(current);
      } else if (cmd.startsWith('default')) {
        const value = line.replace(/^default\s*=?\s*/, '');
        defaultEntry = /^\d+$/.test(value) ? Number(value) : undefined;
      } else if (current && cmd === 'kernel' && rest[0]) {
        current.kernel = rest[0];
        current.args = rest.slice(1).join(' ');
      } else if (current && cmd === 'initrd' && rest[0]) {
        current.initrd = rest[0];
      }
      continue;
    }
    if (cmd === 'menuentry') {
      current = { title: rest[0] ?? '' };
      entries.push(current);
    } else if (cmd === 'set' && rest[0]?.startsWith('default=')) {
      const value = rest[0].slice('default='.length);
      defaultEntry = /^\d+$/.test(value) ? Number(value) : undefined;
    } else if (current && (cmd === 'linux' || cmd === 'linux16') && rest[0]) {
      current.kernel = rest[0];
      current.args = rest.slice(1).join(' ');
    } else if (current && (cmd === 'initrd' || cmd === 'initrd16') && rest[0]) {
      current.initrd = rest[0];
    } else if (cmd === '}') {
      current = undefined;
    }
  }
  if (defaultEntry !== undefined && defaultEntry >= entries.length) defaultEntry = 0;
  return defaultEntry === undefined ? { entries } : { entries, defaultEntry };
}

/**
 * Where pygrub looks, in its order (pygrub's run_grub: /boot/grub/grub.cfg,
 * /grub/grub.cfg, /boot/grub2/grub.cfg, /grub2/grub.cfg, then menu.lst): a /boot
 * partition holds them without the /boot prefix.
 */
export const GRUB_CONFIGS: readonly { file: string; legacy: boolean }[] = [
  { file: 'boot/grub/grub.cfg', legacy: false },
  { file: 'grub/grub.cfg', legacy: false },
  { file: 'boot/grub2/grub.cfg', legacy: false },
  { file: 'grub2/grub.cfg', legacy: false },
  { file: 'boot/grub/menu.lst', legacy: true },
  { file: 'grub/menu.lst', legacy: true },
];

/** A grub path ("/boot/vmlinuz-6.1", "(hd0,msdos1)/vmlinuz") as a name relative to the filesystem root. */
export function grubPathInFs(path: string): string | undefined {
  const noDevice = path.replace(/^\([^)]*\)/, '');
  const rel = noDevice.replace(/^\/+/, '');
  return rel === '' || rel.includes('\0') ? undefined : rel;
}
