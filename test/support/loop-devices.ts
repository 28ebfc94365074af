import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** A loop device with nothing attached, or why there is none (no /dev/loop* in some containers). */
export function freeLoopDevice(): { device?: string; reason?: string } {
  try {
    const device = execFileSync('losetup', ['--find'], { encoding: 'utf8' }).trim();
    if (!existsSync(device)) return { reason: `losetup --find named ${device}, which does not exist` };
    return { device };
  } catch (error) {
    return { reason: `losetup --find failed: ${(error as Error).message.split('\n')[0]}` };
  }
}

/** Attaches `file` read-only to a free loop device; returns it, or why not. */
export function attachLoop(file: string): { device?: string; reason?: string } {
  try {
    const device = execFileSync('losetup', ['--find', '--show', '--read-only', file], {
      encoding: 'utf8',
    }).trim();
    return { device };
  } catch (error) {
    return { reason: `losetup failed: ${(error as Error).message.split('\n')[0]}` };
  }
}

export function detachLoop(device: string): void {
  execFileSync('losetup', ['--detach', device]);
}
