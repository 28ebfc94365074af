#!/usr/bin/env node
// Runs node-gyp against the headers of the Node that runs it (<prefix>/include/node,
// e.g. /usr for Debian's nodejs, /usr/local for a tarball install), so the addon builds
// without downloading Node's headers from the internet. Falls back to node-gyp's own
// lookup when this Node ships no headers.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const prefix = path.dirname(path.dirname(process.execPath));
const args = process.argv.slice(2);
if (
  existsSync(path.join(prefix, 'include', 'node', 'node.h')) &&
  !args.some((a) => a.startsWith('--nodedir'))
)
  args.push(`--nodedir=${prefix}`);
const gyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
const result = spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit' });
process.exit(result.status ?? 1);
