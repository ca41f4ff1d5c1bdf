/**
 * Finding the next three-byte start code prefix (`00 00 01`) in a chunk,
 * the inner loop of Annex-B scanning. In Node, Buffer's native byte-sequence
 * search does it in one call per start code, never visiting payload bytes in
 * JavaScript (found by feature detection, so this module stays free of
 * `node:` imports); elsewhere a JavaScript loop that skips ahead up to three
 * bytes at a time, as FFmpeg's scanner does.
 */

/** Index of the first `00 00 01` that begins at or after `from` in `bytes`, or -1. */
export type StartCodeSearch = (bytes: Uint8Array, from: number) => number;

const PREFIX = Uint8Array.of(0, 0, 1);

/** The search in plain JavaScript (browsers): looks at about one byte in three of payload. */
export const findStartCodePortable: StartCodeSearch = (bytes, from) => {
  const end = bytes.length - 2;
  let p = Math.max(from, 0);
  while (p < end) {
    const third = bytes[p + 2] as number;
    if (third > 1)
      p += 3; // no prefix can cover p + 2: the next one starts at p + 3 or later
    else if (bytes[p + 1] !== 0) p += 2;
    else if (third !== 1 || bytes[p] !== 0) p += 1;
    else return p;
  }
  return -1;
};

type NativeIndexOf = (this: Uint8Array, value: Uint8Array, byteOffset: number) => number;
/** Node's Buffer.prototype.indexOf, which accepts any Uint8Array as `this`; undefined outside Node. */
const nativeIndexOf = (globalThis as { Buffer?: { prototype: { indexOf: NativeIndexOf } } }).Buffer?.prototype.indexOf;

/** The fastest search this runtime offers (same results as {@link findStartCodePortable}). */
export const findStartCode: StartCodeSearch = nativeIndexOf
  ? (bytes, from) => (from >= bytes.length ? -1 : nativeIndexOf.call(bytes, PREFIX, from))
  : findStartCodePortable;
