/**
 * inspect's verdict beside the guest kernel's, image by image (issue 8). The
 * kernel's verdicts (kernel-verdicts.json) come from mounting each image inside a
 * throwaway QEMU VM (kernel-verdicts.mjs); the images from generate.mjs.
 *   npx tsx test/oracle/compare.ts IMAGES_DIR [--misses] [--verdicts FILE]
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DiskInspector, faultFindings } from '../../src/disk/inspector.js';

export type KernelVerdict = 'mounts' | 'mounts-with-warning' | 'mounts-read-only-only' | 'will-not-mount';

export interface OracleRow {
  name: string;
  class: string;
  kernel: KernelVerdict;
  /**
   * It mounted read-write, but the harness's first write failed with a filesystem error (the root
   * directory's block fails its checksum: no path resolves). Not a refusal, and not a usable
   * filesystem either: a fault called on it is no false alarm.
   */
  firstWriteFails: boolean;
  /** Our worst fault severity, or 'ok'. */
  ours: 'ok' | 'will-not-mount' | 'read-only';
  codes: string[];
}

const HERE = import.meta.dirname;
export type Verdicts = {
  kernel: string;
  verdicts: Record<
    string,
    { class: string; verdict: KernelVerdict | 'not-run'; rw?: { ok?: boolean; writeProbe?: string } }
  >;
};

export const loadVerdicts = (file: string): Verdicts => JSON.parse(readFileSync(file, 'utf8')) as Verdicts;
/** The kernel's verdicts on generate.mjs's corpus. */
export const VERDICTS = loadVerdicts(path.join(HERE, 'kernel-verdicts.json'));

/** A write probe that failed with a filesystem error (not ENOSPC: a full but sound filesystem). */
const writeFailed = (probe: string | undefined) =>
  probe !== undefined && probe !== 'OK' && /EBADMSG|EUCLEAN|EIO|EROFS/.test(probe);

/** The kernel refuses what the guest's root mount needs: any mount, or a read-write one. */
export const kernelRefuses = (v: KernelVerdict) => v === 'will-not-mount' || v === 'mounts-read-only-only';

export async function compare(
  imagesDir: string,
  skipMissing = false,
  onlyClass?: string,
  verdicts: Verdicts = VERDICTS,
): Promise<OracleRow[]> {
  const inspector = new DiskInspector();
  const rows: OracleRow[] = [];
  for (const [name, v] of Object.entries(verdicts.verdicts)) {
    if (v.verdict === 'not-run' || (onlyClass !== undefined && v.class !== onlyClass)) continue;
    const file = path.join(imagesDir, `${name}.img`);
    if (skipMissing && !existsSync(file)) continue;
    const inspection = await inspector.inspect(file, { guestKernel: verdicts.kernel });
    const faults = faultFindings(inspection.findings);
    rows.push({
      name,
      class: v.class,
      kernel: v.verdict,
      firstWriteFails: v.rw?.ok === true && writeFailed(v.rw.writeProbe),
      ours: faults.some((f) => f.severity === 'will-not-mount')
        ? 'will-not-mount'
        : faults.length
          ? 'read-only'
          : 'ok',
      codes: inspection.findings.map(
        (f) => `${f.code}${f.severity === 'will-not-mount' ? '' : `(${f.severity})`}`,
      ),
    });
  }
  return rows;
}

export function table(rows: OracleRow[]): string {
  const classes = [...new Set(rows.map((r) => r.class))];
  const lines = [
    '| class | images | kernel: will not mount | kernel: read-only only | kernel: mounts (with a warning) | of those, the first write fails | refused but called OK | mounts and writes but called a fault |',
    '|---|---|---|---|---|---|---|---|',
  ];
  const count = (rs: OracleRow[], f: (r: OracleRow) => boolean) => rs.filter(f).length;
  for (const c of [...classes, 'all']) {
    const rs = c === 'all' ? rows : rows.filter((r) => r.class === c);
    lines.push(
      `| ${c} | ${rs.length} | ${count(rs, (r) => r.kernel === 'will-not-mount')} | ${count(rs, (r) => r.kernel === 'mounts-read-only-only')} | ${count(rs, (r) => r.kernel === 'mounts')} (${count(rs, (r) => r.kernel === 'mounts-with-warning')}) | ${count(rs, (r) => !kernelRefuses(r.kernel) && r.firstWriteFails)} | ${count(rs, (r) => kernelRefuses(r.kernel) && r.ours === 'ok')} | ${count(rs, (r) => !kernelRefuses(r.kernel) && !r.firstWriteFails && r.ours !== 'ok')} |`,
    );
  }
  return lines.join('\n');
}

if (process.argv[1] && import.meta.filename === path.resolve(process.argv[1])) {
  const at = process.argv.indexOf('--verdicts');
  const file = at > 0 ? process.argv[at + 1] : undefined;
  const rows = await compare(process.argv[2] ?? '.', true, undefined, file ? loadVerdicts(file) : VERDICTS);
  console.log(table(rows));
  if (process.argv.includes('--misses')) {
    for (const r of rows) {
      const miss = kernelRefuses(r.kernel) ? r.ours === 'ok' : !r.firstWriteFails && r.ours !== 'ok';
      if (miss) console.log(`MISS ${r.name}: kernel ${r.kernel}, ours ${r.ours} [${r.codes.join(', ')}]`);
    }
  }
}
