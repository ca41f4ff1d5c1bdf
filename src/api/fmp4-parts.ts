/**
 * Splits the fragmented MP4 of a segment's conversion (ftyp, moov, then
 * moof+mdat pairs, then mfra) into the two parts an HLS playlist of
 * fragmented MP4 names: the initialization section (ftyp+moov) and the
 * media segment (every moof+mdat, with each `tfdt` moved by an offset so
 * the segments of a ride form one continuous timeline). Streaming: only a
 * box header, a moov or a moof is held at a time; mdat bytes pass through.
 */

/** Which part of the MP4 to keep. */
export type Fmp4Part = 'init' | 'media';

const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'moof', 'traf']);

/** The media timescale of the first track's mdhd inside a moov box's payload; undefined when absent. */
export function moovTimescale(moov: Uint8Array): number | undefined {
  let found: number | undefined;
  walk(moov, 8, moov.byteLength, (type, start) => {
    if (type === 'mdhd' && found === undefined) {
      const view = new DataView(moov.buffer, moov.byteOffset + start);
      const version = view.getUint8(8);
      found = view.getUint32(version === 1 ? 28 : 20);
    }
  });
  return found;
}

/** Adds `ticks` to every tfdt inside a moof box (in place). Throws on a 32-bit tfdt that would overflow. */
export function shiftMoof(moof: Uint8Array, ticks: bigint): void {
  walk(moof, 8, moof.byteLength, (type, start) => {
    if (type !== 'tfdt') return;
    const view = new DataView(moof.buffer, moof.byteOffset + start);
    if (view.getUint8(8) === 1) view.setBigUint64(12, view.getBigUint64(12) + ticks);
    else {
      const v = BigInt(view.getUint32(12)) + ticks;
      if (v > 0xffffffffn) throw new Error('tfdt overflows 32 bits');
      view.setUint32(12, Number(v));
    }
  });
}

/** Calls `visit` for each box between `from` and `to`, descending into the containers named above. */
function walk(buf: Uint8Array, from: number, to: number, visit: (type: string, start: number) => void): void {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = from;
  while (at + 8 <= to) {
    const size = view.getUint32(at);
    const type = String.fromCharCode(buf[at + 4] ?? 0, buf[at + 5] ?? 0, buf[at + 6] ?? 0, buf[at + 7] ?? 0);
    if (size < 8 || at + size > to) throw new Error(`malformed ${type} box at ${at}`);
    visit(type, at);
    if (CONTAINERS.has(type)) walk(buf, at + 8, at + size, visit);
    at += size;
  }
}

/**
 * The chosen part of a fragmented MP4 byte stream. For 'media', every
 * tfdt is moved by `offsetSeconds` in the track's timescale (read from the
 * moov). Ends after the moov for 'init' (the caller stops the source).
 * Throws on a stream that is not fragmented MP4 as the converter writes it.
 */
export async function* fmp4Part(
  source: AsyncIterable<Uint8Array>,
  part: Fmp4Part,
  offsetSeconds = 0,
): AsyncGenerator<Uint8Array> {
  let pending = new Uint8Array(0);
  let timescale: number | undefined;
  /** Bytes of the current mdat still to pass through. */
  let passing = 0;
  let sawMoov = false;
  for await (const chunk of source) {
    let buf: Uint8Array = pending.byteLength ? concat(pending, chunk) : chunk;
    while (buf.byteLength > 0) {
      if (passing > 0) {
        const n = Math.min(passing, buf.byteLength);
        if (part === 'media') yield buf.subarray(0, n);
        passing -= n;
        buf = buf.subarray(n);
        continue;
      }
      if (buf.byteLength < 8) break;
      const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      const size = view.getUint32(0);
      const type = String.fromCharCode(buf[4] ?? 0, buf[5] ?? 0, buf[6] ?? 0, buf[7] ?? 0);
      if (size < 8) throw new Error(`unsupported MP4 box size ${size} (${type})`);
      if (type === 'mdat') {
        if (!sawMoov) throw new Error('mdat before moov');
        passing = size - 8;
        if (part === 'media') yield buf.slice(0, 8);
        buf = buf.subarray(8);
        continue;
      }
      if (size > 16 * 1024 * 1024) throw new Error(`${type} box too large (${size} bytes)`);
      if (buf.byteLength < size) break;
      const box = buf.slice(0, size);
      buf = buf.subarray(size);
      if (type === 'ftyp') {
        if (part === 'init') yield box;
      } else if (type === 'moov') {
        sawMoov = true;
        timescale = moovTimescale(box);
        if (part === 'init') {
          yield box;
          return;
        }
        if (timescale === undefined) throw new Error('moov without a media timescale');
      } else if (type === 'moof') {
        if (part !== 'media') continue;
        if (timescale === undefined) throw new Error('moof before moov');
        shiftMoof(box, BigInt(Math.round(offsetSeconds * timescale)));
        yield box;
      }
      // mfra, free and others: not part of an HLS media segment.
    }
    pending = buf.byteLength ? buf.slice() : new Uint8Array(0);
  }
  if (passing > 0 || pending.byteLength > 0) throw new Error('the MP4 ended inside a box');
  if (!sawMoov) throw new Error('no moov in the MP4');
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}
