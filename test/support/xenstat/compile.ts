/**
 * Compiles the C helpers of the fake Xen host at test time, into
 * build/test-support/ (gitignored). Outputs are named by a hash of source and
 * command line, so an unchanged helper is compiled once per checkout, and
 * concurrent test files (vitest forks) never see a half-written binary.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

const sourceDir = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
/** Where compiled test helpers go; `build/` is gitignored. */
export const testSupportBuildDir = join(repoRoot, 'build', 'test-support');

const inFlight = new Map<string, Promise<string>>();

async function compileCached(
  source: string,
  outputBase: string,
  suffix: string,
  flags: string[],
  libs: string[],
): Promise<string> {
  const sourcePath = join(sourceDir, source);
  const text = await readFile(sourcePath);
  const hash = createHash('sha256')
    .update(text)
    .update([...flags, ...libs].join('\0'))
    .digest('hex')
    .slice(0, 12);
  const output = join(testSupportBuildDir, `${outputBase}-${hash}${suffix}`);
  const pending = inFlight.get(output);
  if (pending) return pending;
  const build = (async () => {
    if (existsSync(output)) return output;
    await mkdir(testSupportBuildDir, { recursive: true });
    const temporary = `${output}.${process.pid}.tmp`;
    try {
      // libraries must follow the source file for the linker
      await execFileAsync('cc', [...flags, '-o', temporary, sourcePath, ...libs]);
      await rename(temporary, output);
    } catch (error) {
      await rm(temporary, { force: true });
      const stderr = (error as { stderr?: string }).stderr ?? '';
      throw new Error(`compiling ${source} failed: ${(error as Error).message}\n${stderr}`);
    }
    return output;
  })();
  inFlight.set(output, build);
  build.catch(() => inFlight.delete(output));
  return build;
}

/** Builds the LD_PRELOAD shim (xenstat-shim.c); resolves to the absolute .so path. */
export function buildXenstatShim(): Promise<string> {
  return compileCached(
    'xenstat-shim.c',
    'xenstat-shim',
    '.so',
    ['-O2', '-Wall', '-Wextra', '-shared', '-fPIC'],
    ['-ldl', '-pthread'],
  );
}

/**
 * Builds xenstat-probe.c, a small libxenstat client that prints each
 * xenstat_get_node sample as one JSON line; resolves to the executable path.
 */
export function buildXenstatProbe(): Promise<string> {
  return compileCached('xenstat-probe.c', 'xenstat-probe', '', ['-O1', '-Wall', '-Wextra'], ['-lxenstat']);
}
