/**
 * A minimal fragmented-MP4 writer for the live view's Media Source
 * Extensions fallback (ISO/IEC 14496-12 boxes, avcC from ISO/IEC 14496-15
 * 5.3.3.1). One `moof`+`mdat` per access unit so the browser gets each frame
 * as soon as it arrives: a general muxer (mediabunny) waits for the next
 * packet or a minimum fragment duration, which is latency we do not want,
 * and would add ~700 kB to the page. Pure code, no DOM.
 */
import { buildAvcDecoderConfigurationRecord } from '../h264/avcc.js';

function box(type: string, ...parts: Uint8Array[]): Uint8Array {
  let size = 8;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, size);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  let at = 8;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Big-endian bytes from a list of [value, byteWidth]. */
function be(...fields: Array<[number, 1 | 2 | 3 | 4 | 8]>): Uint8Array {
  let size = 0;
  for (const [, w] of fields) size += w;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const [v, w] of fields) {
    if (w === 1) view.setUint8(at, v);
    else if (w === 2) view.setUint16(at, v);
    else if (w === 3) {
      view.setUint8(at, (v >>> 16) & 0xff);
      view.setUint16(at + 1, v & 0xffff);
    } else if (w === 4) view.setUint32(at, v >>> 0);
    else {
      view.setUint32(at, Math.floor(v / 2 ** 32));
      view.setUint32(at + 4, v >>> 0);
    }
    at += w;
  }
  return out;
}

function fullBox(type: string, version: number, flags: number, ...parts: Uint8Array[]): Uint8Array {
  return box(type, be([version, 1], [flags, 3]), ...parts);
}

function ascii(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

const MATRIX = be([0x10000, 4], [0, 4], [0, 4], [0, 4], [0x10000, 4], [0, 4], [0, 4], [0, 4], [0x40000000, 4]);

/** Track description for {@link initSegment}. */
export interface Fmp4Track {
  /** Display size in pixels. */
  width: number;
  height: number;
  /** Raw SPS and PPS NAL units. */
  sps: Uint8Array;
  pps: Uint8Array;
}

/** Media timescale of the track: 90 kHz, so pts90k goes in unchanged. */
export const FMP4_TIMESCALE = 90_000;

/** ftyp + moov for one H.264 video track (track id 1, timescale 90 kHz). */
export function initSegment(track: Fmp4Track): Uint8Array {
  const { width, height } = track;
  const ftyp = box('ftyp', ascii('isom'), be([0x200, 4]), ascii('isomiso5avc1mp41'));
  const mvhd = fullBox(
    'mvhd',
    0,
    0,
    be([0, 4], [0, 4], [1000, 4], [0, 4], [0x10000, 4], [0x100, 2], [0, 2], [0, 4], [0, 4]),
    MATRIX,
    new Uint8Array(24),
    be([2, 4]),
  );
  const tkhd = fullBox(
    'tkhd',
    0,
    3,
    be([0, 4], [0, 4], [1, 4], [0, 4], [0, 4], [0, 4], [0, 4], [0, 2], [0, 2], [0, 2], [0, 2]),
    MATRIX,
    be([width * 0x10000, 4], [height * 0x10000, 4]),
  );
  const mdhd = fullBox('mdhd', 0, 0, be([0, 4], [0, 4], [FMP4_TIMESCALE, 4], [0, 4], [0x55c4, 2], [0, 2]));
  const hdlr = fullBox('hdlr', 0, 0, be([0, 4]), ascii('vide'), new Uint8Array(12), ascii('VideoHandler\0'));
  const avc1 = box(
    'avc1',
    new Uint8Array(6),
    be([1, 2]), // reserved, data_reference_index
    new Uint8Array(16),
    be([width, 2], [height, 2], [0x480000, 4], [0x480000, 4], [0, 4], [1, 2]),
    new Uint8Array(32),
    be([0x18, 2], [0xffff, 2]),
    box('avcC', buildAvcDecoderConfigurationRecord([track.sps], [track.pps])),
  );
  const stbl = box(
    'stbl',
    fullBox('stsd', 0, 0, be([1, 4]), avc1),
    fullBox('stts', 0, 0, be([0, 4])),
    fullBox('stsc', 0, 0, be([0, 4])),
    fullBox('stsz', 0, 0, be([0, 4], [0, 4])),
    fullBox('stco', 0, 0, be([0, 4])),
  );
  const dinf = box('dinf', fullBox('dref', 0, 0, be([1, 4]), fullBox('url ', 0, 1)));
  const minf = box('minf', fullBox('vmhd', 0, 1, be([0, 2], [0, 2], [0, 2], [0, 2])), dinf, stbl);
  const trak = box('trak', tkhd, box('mdia', mdhd, hdlr, minf));
  const mvex = box('mvex', fullBox('trex', 0, 0, be([1, 4], [1, 4], [0, 4], [0, 4], [0, 4])));
  const moov = box('moov', mvhd, trak, mvex);
  const out = new Uint8Array(ftyp.length + moov.length);
  out.set(ftyp);
  out.set(moov, ftyp.length);
  return out;
}

/** One sample for {@link mediaSegment}. */
export interface Fmp4Sample {
  /** Fragment sequence number, from 1. */
  sequence: number;
  /** Decode time in 90 kHz units from the start of the track. */
  decodeTime90k: number;
  /** Sample duration in 90 kHz units. */
  duration90k: number;
  isKey: boolean;
  /** The access unit's NAL units (header byte first, no start codes). */
  nals: Uint8Array[];
}

/** moof + mdat holding exactly one sample (NALs with 4-byte lengths). */
export function mediaSegment(sample: Fmp4Sample): Uint8Array {
  let dataSize = 0;
  for (const n of sample.nals) dataSize += 4 + n.length;
  const flags = sample.isKey ? 0x02000000 : 0x01010000; // depends-on-none / non-sync
  const build = (dataOffset: number): Uint8Array =>
    box(
      'moof',
      fullBox('mfhd', 0, 0, be([sample.sequence, 4])),
      box(
        'traf',
        fullBox('tfhd', 0, 0x020000, be([1, 4])), // default-base-is-moof
        fullBox('tfdt', 1, 0, be([sample.decodeTime90k, 8])),
        fullBox('trun', 0, 0x000701, be([1, 4], [dataOffset, 4], [sample.duration90k, 4], [dataSize, 4], [flags, 4])),
      ),
    );
  const moofSize = build(0).length;
  const moof = build(moofSize + 8);
  const out = new Uint8Array(moof.length + 8 + dataSize);
  out.set(moof);
  const view = new DataView(out.buffer);
  let at = moof.length;
  view.setUint32(at, 8 + dataSize);
  out.set(ascii('mdat'), at + 4);
  at += 8;
  for (const n of sample.nals) {
    view.setUint32(at, n.length);
    out.set(n, at + 4);
    at += 4 + n.length;
  }
  return out;
}
