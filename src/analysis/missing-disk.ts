import { shellQuote } from '../util/shell-quote.js';
/** What VMCE (no disk line) findings share, whether found before boot or in xenstore. */
import type { VmSpec } from '../xl/vm-spec.js';
import type { Evidence } from './evidence.js';

/** Evidence for a `disk =` line that exists only as a comment, if there is one. */
export function commentedOutDiskEvidence(spec: VmSpec): Evidence[] {
  const commented = spec.commentedOutDisk;
  if (!commented) return [];
  return [
    {
      source: 'config',
      detail: `the disk line is commented out at line ${commented.line}`,
      value: commented.text,
    },
  ];
}

/** The fix: uncomment the line, or add one. */
export function missingDiskRemedy(spec: VmSpec): string {
  const commented = spec.commentedOutDisk;
  if (commented)
    return `uncomment line ${commented.line} of ${shellQuote(spec.configPath)}: ${commented.text.replace(/^\s*#\s*/, '')}`;
  return `add the root disk to ${shellQuote(spec.configPath)}, e.g. disk = [ 'format=raw, vdev=xvda, access=rw, target=/path/to/image' ]`;
}
