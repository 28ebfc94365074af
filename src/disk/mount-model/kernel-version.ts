/**
 * The guest kernel a mount is judged for. Feature support is looked up by the
 * mainline version that first accepted a feature; a guest whose kernel is not
 * known is judged by the newest kernel this table describes, so only what no
 * Linux accepts is refused.
 */
export type KernelVersion = readonly [major: number, minor: number];

/** The newest mainline release whose feature masks the tables below were checked against. */
export const NEWEST_MODELLED: KernelVersion = [6, 12];

/** "6.1.0-56-amd64", "5.10.0-28-cloud-amd64", "4.19" → [major, minor]; undefined when unreadable. */
export function parseKernelVersion(release: string | undefined): KernelVersion | undefined {
  const m = release ? /^(\d+)\.(\d+)/.exec(release) : null;
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

export function atLeast(kernel: KernelVersion, since: KernelVersion): boolean {
  return kernel[0] > since[0] || (kernel[0] === since[0] && kernel[1] >= since[1]);
}

export function formatKernel(kernel: KernelVersion): string {
  return `${kernel[0]}.${kernel[1]}`;
}

export interface FeatureBit {
  bit: number;
  name: string;
  /** First mainline Linux that mounts a filesystem with it; null: no Linux does. */
  since: KernelVersion | null;
}

export interface FeatureVerdict {
  /** Names of the set bits the kernel does not accept. */
  unsupported: string[];
  /** Of those, the ones a newer Linux accepts: the kernel is too old (UVKE), the disk is fine. */
  newerKernel: string[];
  /** Of those, bits no Linux knows: corruption or another OS's filesystem (DIDF). */
  unknown: string[];
  /** The refused bits as one word: what the kernel prints (e.g. xfs's "features (0x20)"). */
  mask: number;
}

/** Which set bits of a feature word the kernel cannot handle. */
export function judgeFeatures(
  word: number,
  table: readonly FeatureBit[],
  kernel: KernelVersion,
): FeatureVerdict {
  const verdict: FeatureVerdict = { unsupported: [], newerKernel: [], unknown: [], mask: 0 };
  for (let bit = 0; bit < 32; bit++) {
    const mask = 2 ** bit;
    if (Math.floor(word / mask) % 2 === 0) continue;
    const known = table.find((f) => f.bit === mask);
    if (known?.since && atLeast(kernel, known.since)) continue;
    const name = known?.name ?? `0x${mask.toString(16)}`;
    verdict.unsupported.push(name);
    verdict.mask += mask;
    if (known?.since) verdict.newerKernel.push(`${name} (Linux ${formatKernel(known.since)}+)`);
    else verdict.unknown.push(name);
  }
  return verdict;
}

/** Every refused bit is a real feature of a newer Linux: the filesystem is healthy, the kernel too old (UVKE). */
export function onlyNewerKernel(verdict: FeatureVerdict): boolean {
  return verdict.newerKernel.length > 0 && verdict.unknown.length === 0;
}
