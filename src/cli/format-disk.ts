/** Text rendering of disk inspections for the terminal. */
import type { DiskInspection, FilesystemInfo } from '../disk/inspector.js';

function describeFs(fs: FilesystemInfo): string {
  if (fs.ext && fs.ext.primary !== 'valid') {
    const backup = fs.ext.backupSuperblock;
    return `ext (primary superblock ${fs.ext.primary}${backup ? `, backup at block ${backup.block}` : ''})`;
  }
  return fs.type ?? 'no filesystem';
}

export function formatDiskInspection(d: DiskInspection): string {
  const lines: string[] = [];
  const verdict = d.findings.length === 0 ? 'OK' : 'FAULT';
  lines.push(`${d.path}: ${verdict}`);
  const sizeMiB = (d.sizeBytes / 1024 / 1024).toFixed(1);
  lines.push(`  ${d.kind}, ${sizeMiB} MiB, ${d.sectorSize}-byte sectors, label: ${d.label}`);
  if (d.loop) {
    lines.push(
      `  loop device: ${d.loop.attached ? `attached to ${d.loop.backingFile ?? '?'}` : 'NOT attached'}`,
    );
  }
  if (d.gpt) lines.push(`  GPT: primary header ${d.gpt.primaryHeader}, backup header ${d.gpt.backupHeader}`);
  for (const p of d.partitions) {
    lines.push(
      `  partition ${p.number}: ${p.kind}, sectors ${p.startSector}+${p.lengthSectors}, ${describeFs(p.filesystem)}`,
    );
  }
  if (d.wholeDisk) lines.push(`  whole disk: ${describeFs(d.wholeDisk)}`);
  for (const f of d.findings) {
    lines.push(`  ! ${f.code}: ${f.message}`);
    if (f.remedy) lines.push(`    fix: ${f.remedy}`);
  }
  for (const m of d.libraryMessages) lines.push(`  libparted ${m.type}: ${m.message} (answered ${m.answer})`);
  return lines.join('\n');
}
