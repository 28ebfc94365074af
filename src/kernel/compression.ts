/** The compressions Linux accepts for its image payload and its initramfs, and how to undo them. */

import type { Readable } from 'node:stream';
import zlib, { createInflateRaw, gunzipSync } from 'node:zlib';
import { createRegularFileStream, readRegularFileAt } from '../util/safe-open.js';
import { findTool, runTool } from './tools.js';

export type Compression = 'gzip' | 'xz' | 'lzma' | 'zstd' | 'bzip2' | 'lz4' | 'lzo';

interface Decompressor {
  tool: string;
  args: readonly string[];
  debianPackage: string;
}

/** Node 20's zlib has gzip only; the rest go through the usual command-line tools. */
const DECOMPRESSORS: Record<Exclude<Compression, 'gzip'>, Decompressor> = {
  // --single-stream: ignore what follows the stream (the kernel appends its size; initramfs may pad).
  xz: { tool: 'xz', args: ['-dcq', '--single-stream'], debianPackage: 'xz-utils' },
  lzma: { tool: 'xz', args: ['-dcq', '--format=lzma'], debianPackage: 'xz-utils' },
  zstd: { tool: 'zstd', args: ['-dcq'], debianPackage: 'zstd' },
  bzip2: { tool: 'bzip2', args: ['-dcq'], debianPackage: 'bzip2' },
  lz4: { tool: 'lz4', args: ['-dcq'], debianPackage: 'lz4' },
  lzo: { tool: 'lzop', args: ['-dcq'], debianPackage: 'lzop' },
};

export function debianPackageFor(compression: Compression): string | undefined {
  return compression === 'gzip' ? undefined : DECOMPRESSORS[compression].debianPackage;
}

export function detectCompression(head: Buffer): Compression | undefined {
  const starts = (...bytes: number[]): boolean =>
    head.length >= bytes.length && bytes.every((byte, i) => head[i] === byte);
  if (starts(0x1f, 0x8b)) return 'gzip';
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd';
  if (starts(0x42, 0x5a, 0x68)) return 'bzip2';
  if (starts(0x02, 0x21, 0x4c, 0x18) || starts(0x04, 0x22, 0x4d, 0x18)) return 'lz4';
  if (starts(0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a)) return 'lzo';
  if (starts(0x5d, 0x00, 0x00)) return 'lzma';
  return undefined;
}

export type DecompressFailure = {
  ok: false;
  reason: 'tool-missing' | 'corrupt' | 'too-large' | 'timeout' | 'io';
  detail: string;
};

export interface DecompressOptions {
  toolDirs: readonly string[];
  timeoutMs: number;
}

async function resolveTool(compression: Exclude<Compression, 'gzip'>, options: DecompressOptions) {
  const decompressor = DECOMPRESSORS[compression];
  const path = await findTool(decompressor.tool, options.toolDirs);
  return { decompressor, path };
}

function toolMissing(decompressor: Decompressor): DecompressFailure {
  return {
    ok: false,
    reason: 'tool-missing',
    detail: `${decompressor.tool} is not installed (Debian package ${decompressor.debianPackage})`,
  };
}

/** Decompresses a buffer held in memory, refusing output beyond `maxOutput` bytes. */
export async function decompressBuffer(
  compression: Compression,
  data: Buffer,
  maxOutput: number,
  options: DecompressOptions,
): Promise<{ ok: true; data: Buffer } | DecompressFailure> {
  if (compression === 'gzip') {
    try {
      return { ok: true, data: gunzipSync(data, { maxOutputLength: maxOutput }) };
    } catch (error) {
      const tooLarge = error instanceof RangeError;
      return {
        ok: false,
        reason: tooLarge ? 'too-large' : 'corrupt',
        detail: tooLarge ? `more than ${maxOutput} bytes once decompressed` : `gzip: ${errorText(error)}`,
      };
    }
  }
  const { decompressor, path } = await resolveTool(compression, options);
  if (!path) return toolMissing(decompressor);
  const chunks: Buffer[] = [];
  let total = 0;
  const run = await runTool(
    path,
    decompressor.args,
    data,
    (chunk) => {
      total += chunk.length;
      if (total > maxOutput) return false;
      chunks.push(chunk);
      return true;
    },
    options.timeoutMs,
  );
  if (run.stoppedEarly) {
    return { ok: false, reason: 'too-large', detail: `more than ${maxOutput} bytes once decompressed` };
  }
  const failure = toolFailure(decompressor.tool, run);
  return failure ?? { ok: true, data: Buffer.concat(chunks) };
}

export type StreamResult =
  | {
      ok: true;
      stoppedEarly: boolean;
      /** Input bytes the archive took, when known (gzip): data after it is another segment. */
      consumed?: number;
    }
  | DecompressFailure;

/**
 * Decompresses the file from `start` into `onChunk`; `onChunk` returning false stops early (not a failure:
 * the consumer has what it needs or hit its own cap).
 */
export async function decompressFileStream(
  compression: Compression,
  path: string,
  start: number,
  onChunk: (chunk: Buffer) => boolean,
  options: DecompressOptions,
): Promise<StreamResult> {
  if (compression === 'gzip') return await gunzipMember(path, start, onChunk, options.timeoutMs);
  const { decompressor, path: tool } = await resolveTool(compression, options);
  if (!tool) return toolMissing(decompressor);
  let source: Readable;
  try {
    source = await createRegularFileStream(path, { start, highWaterMark: 1024 * 1024 });
  } catch (error) {
    return { ok: false, reason: 'io', detail: errorText(error) };
  }
  const run = await runTool(tool, decompressor.args, source, onChunk, options.timeoutMs);
  if (run.stoppedEarly) return { ok: true, stoppedEarly: true };
  return toolFailure(decompressor.tool, run) ?? { ok: true, stoppedEarly: false };
}

/** Length of a gzip member header (RFC 1952), or a sentence saying why it is not one. */
function gzipHeaderLength(head: Buffer): number | string {
  if (head.length < 10 || head[0] !== 0x1f || head[1] !== 0x8b) return 'not a gzip header';
  if (head[2] !== 8) return `unknown gzip compression method ${head[2]}`;
  const flags = head[3] ?? 0;
  if (flags & 0xe0) return 'reserved gzip header flags set';
  let position = 10;
  if (flags & 0x04) {
    if (position + 2 > head.length) return 'gzip extra field runs past the header window';
    position += 2 + head.readUInt16LE(position);
  }
  for (const flag of [0x08, 0x10]) {
    if (!(flags & flag)) continue;
    const nul = head.indexOf(0, position);
    if (nul === -1) return 'gzip file name or comment runs past the header window';
    position = nul + 1;
  }
  if (flags & 0x02) position += 2;
  return position <= head.length ? position : 'gzip header runs past the header window';
}

/**
 * One gzip member, inflated raw so that we learn where it ends (the kernel goes on with what follows, and
 * zlib's gunzip would turn trailing data into an error that swallows the last output), then checked
 * against its CRC-32 and size trailer.
 */
async function gunzipMember(
  path: string,
  start: number,
  onChunk: (chunk: Buffer) => boolean,
  timeoutMs: number,
): Promise<StreamResult> {
  let headerLength: number | string;
  try {
    headerLength = gzipHeaderLength(await readAt(path, start, 65_536 + 16));
  } catch (error) {
    return { ok: false, reason: 'io', detail: errorText(error) };
  }
  if (typeof headerLength === 'string') return { ok: false, reason: 'corrupt', detail: headerLength };
  const bodyStart = start + headerLength;
  let source: Readable;
  try {
    source = await createRegularFileStream(path, { start: bodyStart, highWaterMark: 1024 * 1024 });
  } catch (error) {
    return { ok: false, reason: 'io', detail: errorText(error) };
  }
  const inflate = createInflateRaw();
  const checksum = typeof zlib.crc32 === 'function' ? zlib.crc32 : undefined;
  let crc = 0;
  let size = 0;
  const outcome = await new Promise<StreamResult>((resolve) => {
    let settled = false;
    const finish = (result: StreamResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      source.unpipe(inflate);
      source.destroy();
      inflate.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () => finish({ ok: false, reason: 'timeout', detail: `gzip: timed out after ${timeoutMs} ms` }),
      timeoutMs,
    );
    inflate.on('data', (chunk: Buffer) => {
      if (settled) return;
      if (checksum) crc = checksum(chunk, crc);
      size = (size + chunk.length) % 0x1_0000_0000;
      if (!onChunk(chunk)) finish({ ok: true, stoppedEarly: true });
    });
    inflate.on('end', () => finish({ ok: true, stoppedEarly: false, consumed: inflate.bytesWritten }));
    inflate.on('error', (error) =>
      finish({ ok: false, reason: 'corrupt', detail: `gzip: ${errorText(error)}` }),
    );
    source.on('error', (error) => finish({ ok: false, reason: 'io', detail: errorText(error) }));
    source.pipe(inflate);
  });
  if (!outcome.ok || outcome.stoppedEarly || outcome.consumed === undefined) return outcome;
  const trailerAt = bodyStart + outcome.consumed;
  const trailer = await readAt(path, trailerAt, 8);
  if (trailer.length < 8)
    return { ok: false, reason: 'corrupt', detail: 'gzip: the CRC/size trailer is cut off' };
  if (checksum && trailer.readUInt32LE(0) !== crc >>> 0) {
    return { ok: false, reason: 'corrupt', detail: 'gzip: CRC-32 mismatch' };
  }
  if (trailer.readUInt32LE(4) !== size)
    return { ok: false, reason: 'corrupt', detail: 'gzip: size mismatch' };
  return { ok: true, stoppedEarly: false, consumed: headerLength + outcome.consumed + 8 };
}

/** Reads from a regular file only (src/util/safe-open.ts: a FIFO or device never blocks us). */
export async function readAt(path: string, position: number, length: number): Promise<Buffer> {
  return readRegularFileAt(path, position, length);
}

function toolFailure(tool: string, run: Awaited<ReturnType<typeof runTool>>): DecompressFailure | undefined {
  if (run.spawnError)
    return { ok: false, reason: 'tool-missing', detail: `${tool}: ${run.spawnError.message}` };
  if (run.timedOut) return { ok: false, reason: 'timeout', detail: `${tool} did not finish in time` };
  if (run.code !== 0) {
    const why = run.stderr || (run.signal ? `killed by ${run.signal}` : `exit code ${run.code}`);
    return { ok: false, reason: 'corrupt', detail: `${tool}: ${why}` };
  }
  return undefined;
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
