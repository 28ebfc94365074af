/** The only module that loads the addon. Failure to load is reported, not thrown at import. */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, VmbootfailError } from '../errors.js';
import type { NativeAddon } from './native-types.js';

/** The directory holding binding.gyp: src/native/ when run from source, dist/src/native/ when built. */
function findPackageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'binding.gyp'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('binding.gyp not found above the loader');
    dir = parent;
  }
  return dir;
}

const BUILD_HINT =
  'Build it with `npm run build:native` after `bash scripts/install-deps.sh` ' +
  '(g++, make, python3, pkg-config, libxen-dev, libparted-dev, libext2fs-dev, libblkid-dev).';

let cached: { addon?: NativeAddon; error?: VmbootfailError } | undefined;

function load(): { addon?: NativeAddon; error?: VmbootfailError } {
  const require = createRequire(import.meta.url);
  try {
    // The sanitizer tier loads its own build of the same sources (native/sanitize/).
    const override = process.env.VMBF_NATIVE_ADDON;
    const bindings = require('bindings') as (opts: { bindings: string; module_root: string }) => NativeAddon;
    const addon = override
      ? (require(path.resolve(override)) as NativeAddon)
      : bindings({ bindings: 'vmbootfail', module_root: findPackageRoot() });
    addon.setErrorClass(VmbootfailError as never);
    return { addon };
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    const error = new VmbootfailError(
      `the vmbootfail native addon could not be loaded: ${reason.split('\n')[0]}. ${BUILD_HINT}`,
      { code: ErrorCode.ADDON_UNAVAILABLE, lib: 'addon', op: 'load', cause },
    );
    return { error };
  }
}

/** The addon, or a typed error explaining why it is missing and how to build it. */
export function nativeAddon(): NativeAddon {
  cached ??= load();
  if (cached.addon) return cached.addon;
  throw cached.error;
}

/** Whether the addon loaded, without throwing. */
export function nativeAddonStatus(): { loaded: boolean; reason?: string } {
  cached ??= load();
  return cached.addon ? { loaded: true } : { loaded: false, reason: cached.error?.message };
}
