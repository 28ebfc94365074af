/**
 * XXH64 with seed 0, the checksum btrfs records for csum type 1 (Linux lib/xxhash.c). Written here:
 * Node has no xxhash and the only use is verifying a few metadata blocks, so BigInt arithmetic is
 * fast enough (about a millisecond per 16 KiB block) and keeps a dependency out.
 */
const MASK = (1n << 64n) - 1n;
const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;
const P5 = 0x27d4eb2f165667c5n;

const rotl = (x: bigint, r: bigint) => ((x << r) | (x >> (64n - r))) & MASK;
const round = (acc: bigint, input: bigint) => (rotl((acc + input * P2) & MASK, 31n) * P1) & MASK;
const merge = (acc: bigint, val: bigint) => ((acc ^ round(0n, val)) * P1 + P4) & MASK;

export function xxhash64(data: Buffer): bigint {
  const len = data.length;
  let at = 0;
  let h: bigint;
  if (len >= 32) {
    let v1 = (P1 + P2) & MASK;
    let v2 = P2;
    let v3 = 0n;
    let v4 = (MASK + 1n - P1) & MASK;
    for (; at + 32 <= len; at += 32) {
      v1 = round(v1, data.readBigUInt64LE(at));
      v2 = round(v2, data.readBigUInt64LE(at + 8));
      v3 = round(v3, data.readBigUInt64LE(at + 16));
      v4 = round(v4, data.readBigUInt64LE(at + 24));
    }
    h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & MASK;
    h = merge(merge(merge(merge(h, v1), v2), v3), v4);
  } else {
    h = P5;
  }
  h = (h + BigInt(len)) & MASK;
  for (; at + 8 <= len; at += 8) h = (rotl(h ^ round(0n, data.readBigUInt64LE(at)), 27n) * P1 + P4) & MASK;
  if (at + 4 <= len) {
    h = (rotl(h ^ ((BigInt(data.readUInt32LE(at)) * P1) & MASK), 23n) * P2 + P3) & MASK;
    at += 4;
  }
  for (; at < len; at++) h = (rotl(h ^ ((BigInt(data[at] as number) * P5) & MASK), 11n) * P1) & MASK;
  h ^= h >> 33n;
  h = (h * P2) & MASK;
  h ^= h >> 29n;
  h = (h * P3) & MASK;
  h ^= h >> 32n;
  return h;
}
