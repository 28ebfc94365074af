/** Text rendering of disk inspections for the terminal. */
import { type DiskInspection, type FilesystemInfo, faultFindings } from '../disk/inspector.js';
import { printableLines } from '../util/printable.js';

function describeFs(fs: FilesystemInfo): string {
  if (fs.ext && fs.ext.primary !== 'valid') {
    const backup = fs.ext.backupSuperblock;
    return `ext (primary superblock ${fs.ext.primary}${backup ? `, backup at block ${backup.block}` : ''})`;
  }
  const mount = fs.mount && fs.mount !== 'mounts' ? ` (kernel: ${fs.mount})` : '';
  return `${fs.type ?? 'no filesystem'}${mount}`;
}

export function formatDiskInspection(d: DiskInspection): string {
  const lines: string[] = [];
  const faults = faultFindings(d.findings).length;
  const verdict = faults > 0 ? 'FAULT' : d.findings.length > 0 ? 'OK (mounts, with warnings)' : 'OK';
  lines.push(`${d.path}: ${verdict}`);
  const sizeMiB = (d.sizeBytes / 1024 / 1024).toFixed(1);
  lines.push(`  ${d.kind}, ${sizeMiB} MiB, ${d.sectorSize}-byte sectors, label: ${d.label}`);
  if (d.loop) {
    lines.push(
      `  loop device: ${d.loop.attached ? `attached to ${d.loop.backingFile ?? '?'}` : 'NOT attached'}`,
    );
  }
  if (d.gpt)
    lines.push(
      d.gpt.backupHeader === 'not-needed'
        ? `  GPT: primary header ${d.gpt.primaryHeader} (Linux reads the primary; the backup is not needed)`
        : `  GPT: primary header ${d.gpt.primaryHeader}, backup header ${d.gpt.backupHeader}`,
    );
  for (const p of d.partitions) {
    lines.push(
      `  partition ${p.number}: ${p.kind}, sectors ${p.startSector}+${p.lengthSectors}, ${describeFs(p.filesystem)}`,
    );
  }
  if (d.wholeDisk) lines.push(`  whole disk: ${describeFs(d.wholeDisk)}`);
  for (const f of d.findings) {
    const mark = f.severity === 'warning' ? '~' : '!';
    const severity = f.severity === 'will-not-mount' ? '' : ` [${f.severity}]`;
    lines.push(`  ${mark} ${f.code}${severity}: ${f.message}`);
    if (f.kernelSays) lines.push(`    kernel: ${f.kernelSays}`);
    if (f.remedy) lines.push(`    fix: ${f.remedy}`);
  }
  for (const m of d.libraryMessages) lines.push(`  libparted ${m.type}: ${m.message} (answered ${m.answer})`);
  // Paths, labels and libparted's messages come from outside: each line is neutralised (util/printable.ts).
  return printableLines(lines);
}
