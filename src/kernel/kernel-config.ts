/** Finding and reading a kernel's build configuration, as Debian installs it: /boot/config-<version>. */

import { basename, dirname, join, resolve } from 'node:path';
import { UnsafeFileError, openRegularFile } from '../util/safe-open.js';
import { errorText } from './compression.js';

/** Debian's configs are ~260 KB; a much larger file is not a kernel config. */
const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

export type ConfigSource = 'beside-kernel' | 'boot-dir' | 'explicit';

export interface KernelConfig {
  path: string;
  source: ConfigSource;
  /** CONFIG_* name -> value as written ("y", "m", "\"string\"", "n" for "is not set"). */
  values: Map<string, string>;
}

export interface ConfigLookup {
  config?: KernelConfig;
  /** Every path tried, in order. */
  tried: string[];
  /** Why no config was found (or why the explicit one was refused). */
  failure?: string;
}

/** vmlinuz-6.1.0-56-amd64 -> 6.1.0-56-amd64 (also vmlinux-, bzImage-, kernel-). */
export function versionFromKernelFileName(kernelPath: string): string | undefined {
  const match = /^(?:vmlinuz|vmlinux|bzImage|kernel)-(.+)$/.exec(basename(kernelPath));
  return match?.[1];
}

export async function locateKernelConfig(
  kernelPath: string,
  versions: readonly string[],
  explicitPath: string | undefined,
  bootDir: string,
): Promise<ConfigLookup> {
  if (explicitPath !== undefined) {
    const read = await readKernelConfig(explicitPath);
    if (typeof read === 'string') return { tried: [explicitPath], failure: read };
    return { tried: [explicitPath], config: { path: explicitPath, source: 'explicit', values: read } };
  }
  const candidates: { path: string; source: ConfigSource }[] = [];
  const kernelDir = dirname(resolve(kernelPath));
  for (const version of versions) {
    candidates.push({ path: join(kernelDir, `config-${version}`), source: 'beside-kernel' });
  }
  if (resolve(bootDir) !== kernelDir) {
    for (const version of versions) {
      candidates.push({ path: join(bootDir, `config-${version}`), source: 'boot-dir' });
    }
  }
  const tried: string[] = [];
  const refusals: string[] = [];
  for (const candidate of candidates) {
    if (tried.includes(candidate.path)) continue;
    tried.push(candidate.path);
    const read = await readKernelConfig(candidate.path);
    if (typeof read !== 'string') return { tried, config: { ...candidate, values: read } };
    if (!read.startsWith('cannot open')) refusals.push(read);
  }
  if (versions.length === 0) {
    return {
      tried,
      failure: 'the kernel version is unknown (no bzImage version string, no vmlinuz-<version> name)',
    };
  }
  return { tried, failure: refusals[0] ?? `no config-<version> found (tried ${tried.join(', ')})` };
}

/** Returns the parsed values, or a sentence saying why the file is not usable. */
export async function readKernelConfig(path: string): Promise<Map<string, string> | string> {
  let text: string;
  try {
    let opened: Awaited<ReturnType<typeof openRegularFile>>;
    try {
      opened = await openRegularFile(path);
    } catch (error) {
      if (error instanceof UnsafeFileError && error.kind) return `${path} is not a regular file`;
      throw error;
    }
    const { handle, info } = opened;
    try {
      if (info.size > MAX_CONFIG_BYTES) return `${path} is ${info.size} bytes: too large for a kernel config`;
      const data = await handle.readFile();
      if (data.includes(0)) return `${path} is binary, not a kernel config`;
      text = data.toString('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    return `cannot open ${path}: ${errorText(error)}`;
  }
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const set = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line.trim());
    if (set?.[1] !== undefined && set[2] !== undefined) {
      values.set(set[1], set[2]);
      continue;
    }
    const unset = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/.exec(line.trim());
    if (unset?.[1] !== undefined) values.set(unset[1], 'n');
  }
  if (values.size === 0) return `${path} has no CONFIG_ lines: not a kernel config`;
  return values;
}

/** Kconfig writes every visible symbol, so an option absent from a real config is not built. */
export function tristate(config: KernelConfig, option: string): 'y' | 'm' | 'n' {
  const value = config.values.get(option);
  return value === 'y' || value === 'm' ? value : 'n';
}
