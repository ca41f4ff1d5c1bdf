/**
 * Splits the fragmented MP4 of a segment's conversion (ftyp, moov, then
 * moof+mdat pairs, then mfra) into the two parts an HLS playlist of
 * fragmented MP4 names: the initialization section (ftyp+moov) and the
 * media segment (every moof+mdat, with each `tfdt` moved by an offset so
 * the segments of a ride form one continuous timeline). Streaming: only a
 * box header, a moov or a moof is held at a time; mdat bytes pass through.
 * The init section's SPS gets a slow VUI clock (moovWithSpsTiming, RIDE_VUI_TIMING).
 */
import { spsWithTiming, type VuiTiming } from '../h264/sps-with-timing.js';

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

/** Boxes on the way from a moov's payload to the avcC, and the bytes before their children (sample descriptions). */
const TO_AVCC: Record<string, { next: string[]; skip: number }> = {
  moov: { next: ['trak'], skip: 0 },
  trak: { next: ['mdia'], skip: 0 },
  mdia: { next: ['minf'], skip: 0 },
  minf: { next: ['stbl'], skip: 0 },
  stbl: { next: ['stsd'], skip: 0 },
  // Full box (version, flags) and entry_count, then the sample entries.
  stsd: { next: ['avc1', 'avc3'], skip: 8 },
  // VisualSampleEntry's fields before its child boxes.
  avc1: { next: ['avcC'], skip: 78 },
  avc3: { next: ['avcC'], skip: 78 },
};

/**
 * The VUI clock of the rides' init sections: a tick of a quarter second, so WebKitGTK's MediaSource
 * (GStreamer's h264parse: two ticks a frame, whatever the MP4 says) counts every frame as half a
 * second long and takes capture stalls up to a second for no discontinuity (sps-with-timing.ts).
 * Chromium, Firefox and Safari take frame durations from the MP4.
 */
export const RIDE_VUI_TIMING: VuiTiming = { numUnitsInTick: 1, timeScale: 4 };

/**
 * A moov box whose avcC SPS have VUI timing `timing` (spsWithTiming); the moov itself (same bytes)
 * when nothing changes. Box sizes on the way to the avcC are fixed.
 */
export function moovWithSpsTiming(moov: Uint8Array, timing: VuiTiming = RIDE_VUI_TIMING): Uint8Array {
  const view = new DataView(moov.buffer, moov.byteOffset, moov.byteLength);
  /** Offsets of the boxes from the moov down to the avcC, the avcC last. */
  const path: number[] = [];
  const find = (at: number, end: number, wanted: string[]): boolean => {
    while (at + 8 <= end) {
      const { size, type } = boxAt(view, at, end);
      if (wanted.includes(type)) {
        path.push(at);
        if (type === 'avcC') return true;
        const step = TO_AVCC[type] as { next: string[]; skip: number };
        if (find(at + 8 + step.skip, at + size, step.next)) return true;
        path.pop();
      }
      at += size;
    }
    return false;
  };
  if (!find(0, moov.byteLength, ['moov'])) return moov;
  const at = path[path.length - 1] as number;
  const size = view.getUint32(at);
  const record = moov.subarray(at + 8, at + size);
  const rewritten = avccWithSpsTiming(record, timing);
  if (rewritten === record) return moov;
  const delta = rewritten.byteLength - record.byteLength;
  const out = new Uint8Array(moov.byteLength + delta);
  out.set(moov.subarray(0, at + 8), 0);
  out.set(rewritten, at + 8);
  out.set(moov.subarray(at + size), at + 8 + rewritten.byteLength);
  const outView = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (const box of path) outView.setUint32(box, outView.getUint32(box) + delta);
  return out;
}

/** An AVCDecoderConfigurationRecord with each SPS through spsWithTiming (the record itself when none changes). */
function avccWithSpsTiming(record: Uint8Array, timing: VuiTiming): Uint8Array {
  if (record.byteLength < 6) throw new Error('avcC too short');
  const pieces: Uint8Array[] = [record.subarray(0, 6)];
  let at = 6;
  let changed = false;
  for (let i = 0; i < ((record[5] as number) & 0x1f); i++) {
    if (at + 2 > record.byteLength) throw new Error('avcC: SPS past its end');
    const length = ((record[at] as number) << 8) | (record[at + 1] as number);
    if (at + 2 + length > record.byteLength) throw new Error('avcC: SPS past its end');
    const sps = record.subarray(at + 2, at + 2 + length);
    const cut = spsWithTiming(sps, timing);
    if (cut !== sps) changed = true;
    pieces.push(Uint8Array.of(cut.byteLength >> 8, cut.byteLength & 0xff), cut);
    at += 2 + length;
  }
  if (!changed) return record;
  pieces.push(record.subarray(at));
  return Buffer.concat(pieces);
}

/** The size and type of the box at `at`, which must end by `end` (a malformed size throws). */
function boxAt(view: DataView, at: number, end: number): { size: number; type: string } {
  const size = view.getUint32(at);
  const type = boxType(view, at);
  if (size < 8 || at + size > end) throw new Error(`malformed ${type} box at ${at}`);
  return { size, type };
}

/** The four-character type of the box whose header starts at `at`. */
function boxType(view: DataView, at: number): string {
  return String.fromCharCode(
    view.getUint8(at + 4),
    view.getUint8(at + 5),
    view.getUint8(at + 6),
    view.getUint8(at + 7),
  );
}

/** Calls `visit` for each box between `from` and `to`, descending into the containers named above. */
function walk(buf: Uint8Array, from: number, to: number, visit: (type: string, start: number) => void): void {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = from;
  while (at + 8 <= to) {
    const { size, type } = boxAt(view, at, to);
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
    let buf: Uint8Array = pending.byteLength ? Buffer.concat([pending, chunk]) : chunk;
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
      const type = boxType(view, 0);
      if (size < 8) throw new Error(`unsupported MP4 box size ${size} (${type})`);
      if (type === 'mdat') {
        if (!sawMoov) throw new Error('mdat before moov');
        passing = size - 8;
        if (part === 'media') yield new Uint8Array(buf.subarray(0, 8));
        buf = buf.subarray(8);
        continue;
      }
      if (size > 16 * 1024 * 1024) throw new Error(`${type} box too large (${size} bytes)`);
      if (buf.byteLength < size) break;
      // A copy (new Uint8Array, not slice: a Buffer's slice is a view): the moof is changed in place.
      const box = new Uint8Array(buf.subarray(0, size));
      buf = buf.subarray(size);
      if (type === 'ftyp') {
        if (part === 'init') yield box;
      } else if (type === 'moov') {
        sawMoov = true;
        timescale = moovTimescale(box);
        if (part === 'init') {
          yield moovWithSpsTiming(box);
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
    pending = buf.byteLength ? new Uint8Array(buf) : new Uint8Array(0);
  }
  if (passing > 0 || pending.byteLength > 0) throw new Error('the MP4 ended inside a box');
  if (!sawMoov) throw new Error('no moov in the MP4');
}
