/**
 * EBML (RFC 8794), the syntax Matroska files are written in: the element IDs
 * we use, the one vint decoder and element-header reader, the encoders for
 * the few elements we write, and one buffered reader over a file handle.
 * Shared by the Matroska header reader/repairer (matroska-file.ts) and the
 * MP4 converter's demuxer (convert-mkv-reader.ts).
 *
 * Every length comes from the file, so every read is bounded by what is
 * there: a header cut short or a malformed vint answers undefined, never
 * reads past the end.
 */
import type { FileHandle } from 'node:fs/promises';

/** Element IDs we use (RFC 9559 section 5), as stored: marker bits included. */
export const EbmlId = {
  EBML: 0x1a45dfa3,
  Segment: 0x18538067,
  SeekHead: 0x114d9b74,
  Info: 0x1549a966,
  TimestampScale: 0x2ad7b1,
  Duration: 0x4489,
  DateUTC: 0x4461,
  MuxingApp: 0x4d80,
  WritingApp: 0x5741,
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackNumber: 0xd7,
  TrackType: 0x83,
  CodecID: 0x86,
  CodecPrivate: 0x63a2,
  DefaultDuration: 0x23e383,
  Video: 0xe0,
  PixelWidth: 0xb0,
  PixelHeight: 0xba,
  Cluster: 0x1f43b675,
  Timestamp: 0xe7,
  SimpleBlock: 0xa3,
  BlockGroup: 0xa0,
  Block: 0xa1,
  ReferenceBlock: 0xfb,
  Cues: 0x1c53bb6b,
  CuePoint: 0xbb,
  CueTime: 0xb3,
  CueTrackPositions: 0xb7,
  CueTrack: 0xf7,
  CueClusterPosition: 0xf1,
  Tags: 0x1254c367,
  Chapters: 0x1043a770,
  Attachments: 0x1941a469,
  Void: 0xec,
} as const;

/** Level-1 elements: a cluster of unknown size ends where one of these starts. */
export const LEVEL1_IDS: ReadonlySet<number> = new Set<number>([
  EbmlId.SeekHead,
  EbmlId.Info,
  EbmlId.Tracks,
  EbmlId.Cluster,
  EbmlId.Cues,
  EbmlId.Tags,
  EbmlId.Chapters,
  EbmlId.Attachments,
]);

/** The longest element header: a 4-byte ID and an 8-byte size. */
export const MAX_HEAD_BYTES = 12;

/** An element's ID and size, and where it and its body start. */
export interface EbmlHead {
  id: number;
  /** Body size in bytes, or -1 for unknown size (every value bit set). */
  size: number;
  /** Position of the element (its ID) and of its body. */
  offset: number;
  dataOffset: number;
}

/** Length in bytes (1-8) of the vint whose first byte is `first`: one more than its leading zero bits; 0 for 0x00 (not a vint). */
export function vintLength(first: number): number {
  const length = Math.clz32(first) - 23;
  return length <= 8 ? length : 0;
}

/** Value of the `length`-byte vint at b[at], marker bit removed; -1 when every value bit is 1 (unknown size). */
export function vintValue(b: Uint8Array, at: number, length: number): number {
  let value = (b[at] as number) & (0xff >> length);
  let allOnes = value === 0xff >> length;
  for (let i = 1; i < length; i++) {
    const x = b[at + i] as number;
    if (x !== 0xff) allOnes = false;
    value = value * 256 + x;
  }
  return allOnes ? -1 : value;
}

/** Big-endian unsigned integer of `length` bytes at b[at] (an EBML uint element's body; exact up to 2^53). */
export function readUint(b: Uint8Array, at = 0, length = b.length - at): number {
  let value = 0;
  for (let i = 0; i < length; i++) value = value * 256 + (b[at + i] as number);
  return value;
}

/**
 * The element header at b[at], where bytes before `end` are valid and
 * `offset` is the position of b[at] in the file (default: `at`). Undefined
 * when `end` cuts the header or it is not EBML (an ID longer than 4 bytes,
 * a vint starting with 0x00).
 */
export function decodeElementHead(b: Uint8Array, at: number, end: number, offset = at): EbmlHead | undefined {
  if (at >= end) return undefined;
  const idLength = vintLength(b[at] as number);
  if (idLength === 0 || idLength > 4 || at + idLength >= end) return undefined;
  const sizeLength = vintLength(b[at + idLength] as number);
  if (sizeLength === 0 || at + idLength + sizeLength > end) return undefined;
  return {
    id: readUint(b, at, idLength),
    size: vintValue(b, at + idLength, sizeLength),
    offset,
    dataOffset: offset + idLength + sizeLength,
  };
}

/**
 * Calls `visit` for each child of a master element held in memory (a small
 * one: Tracks, Info, a BlockGroup). False when a child is malformed, of
 * unknown size or runs past the body (the children before it were visited).
 */
export function forEachChild<T extends Uint8Array>(body: T, visit: (id: number, data: T) => void): boolean {
  let p = 0;
  while (p < body.length) {
    const h = decodeElementHead(body, p, body.length);
    if (!h || h.size < 0 || h.dataOffset + h.size > body.length) return false;
    visit(h.id, body.subarray(h.dataOffset, h.dataOffset + h.size) as T); // a Buffer's subarray is a Buffer
    p = h.dataOffset + h.size;
  }
  return true;
}

/** An unsigned integer in the fewest big-endian bytes (at least one). */
export function encodeUint(v: number): Uint8Array {
  const out: number[] = [];
  let x = Math.max(0, Math.floor(v));
  do {
    out.unshift(x % 256);
    x = Math.floor(x / 256);
  } while (x > 0);
  return Uint8Array.from(out);
}

/** A size as a vint of the shortest length (1-8 bytes; the all-ones value of each length is reserved for unknown size). */
export function encodeSize(size: number): Uint8Array {
  for (let length = 1; length <= 8; length++) {
    if (size < 2 ** (7 * length) - 1) {
      const out = new Uint8Array(length);
      let x = size;
      for (let i = length - 1; i >= 0; i--) {
        out[i] = x % 256;
        x = Math.floor(x / 256);
      }
      out[0] = (out[0] as number) | (0x100 >> length);
      return out;
    }
  }
  throw new RangeError(`EBML size too large: ${size}`);
}

/** A whole element: ID, size, body. */
export function encodeElement(id: number, body: Uint8Array): Uint8Array {
  const head = encodeUint(id);
  const size = encodeSize(body.length);
  const out = new Uint8Array(head.length + size.length + body.length);
  out.set(head, 0);
  out.set(size, head.length);
  out.set(body, head.length + size.length);
  return out;
}

/**
 * Reads a file (treated as `size` bytes long) through one buffer: a miss
 * keeps the buffered bytes from the requested position on and reads up to
 * `chunkBytes` after them in large reads, so a front-to-back walk costs one
 * read per chunk and memory stays flat for any file size. The buffer grows
 * only for a request larger than a chunk.
 */
export class EbmlFileReader {
  private buf: Buffer;
  /** File position of buf[0], and valid bytes in buf. */
  private start = 0;
  private length = 0;

  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
    private readonly chunkBytes: number,
  ) {
    this.buf = Buffer.allocUnsafe(chunkBytes);
  }

  /** Makes [pos, pos+n) available in {@link bytes}; returns the buffer offset of pos, or -1 when the file ends first. */
  async ensure(pos: number, n: number): Promise<number> {
    if (pos + n > this.size) return -1;
    if (pos >= this.start && pos + n <= this.start + this.length) return pos - this.start;
    if (n > this.buf.length) {
      this.buf = Buffer.allocUnsafe(Math.max(n, this.chunkBytes));
      this.length = 0;
    }
    // Keep the bytes from pos on (if buffered), read the rest after them.
    let keep = 0;
    if (pos >= this.start && pos < this.start + this.length) {
      keep = this.start + this.length - pos;
      this.buf.copy(this.buf, 0, pos - this.start, this.start + this.length);
    }
    this.start = pos;
    this.length = keep;
    const want = Math.min(this.buf.length, this.size - pos);
    while (this.length < want) {
      const { bytesRead } = await this.fh.read(this.buf, this.length, want - this.length, pos + this.length);
      if (bytesRead === 0) break;
      this.length += bytesRead;
    }
    return this.length >= n ? 0 : -1;
  }

  /** The buffer {@link ensure} offsets point into (valid until the next call). */
  get bytes(): Buffer {
    return this.buf;
  }

  /** Up to `length` bytes at `pos`, fewer at the end of the file: a view valid until the next call. */
  async read(pos: number, length: number): Promise<Buffer> {
    const n = Math.max(0, Math.min(length, this.size - pos));
    const at = await this.ensure(pos, n);
    return at < 0 ? this.buf.subarray(0, 0) : this.buf.subarray(at, at + n);
  }

  /** The element header at `pos`; undefined at the end of the file, when it is cut short, or when it is not EBML. */
  async head(pos: number): Promise<EbmlHead | undefined> {
    if (pos >= this.size) return undefined;
    const at = await this.ensure(pos, Math.min(MAX_HEAD_BYTES, this.size - pos));
    if (at < 0) return undefined;
    return decodeElementHead(this.buf, at, this.length, pos);
  }
}
