/**
 * Just enough Matroska (EBML, RFC 8794 / RFC 9559) to look after our own
 * append-only segments without loading them: read the header (Info, Tracks),
 * walk the clusters to find the last complete block after a crash, and patch
 * or append the few elements an append-only writer cannot write in place
 * (Duration, DateUTC, Cues).
 *
 * Muxing itself is mediabunny's; this file never rewrites media data. Reads
 * go through one small buffer (EbmlFileReader, ebml.ts), so memory stays
 * flat for any file size.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import {
  EbmlFileReader,
  EbmlId,
  LEVEL1_IDS,
  encodeElement,
  encodeSize,
  encodeUint,
  readUint,
  type EbmlHead,
} from './ebml.js';

/** Read size of the header walk and the block-header scan: blocks of our segments are 10-100 KB apart. */
const WINDOW_BYTES = 64 * 1024;

/** Milliseconds between the Unix epoch and Matroska's DateUTC origin (2001-01-01T00:00:00Z). */
const MATROSKA_EPOCH_MS = Date.UTC(2001, 0, 1);

/** What the header of a Matroska file says (everything before the first cluster). */
export interface MatroskaHeader {
  /** Segment duration in ms (from Info/Duration), null when absent (append-only file not sealed yet). */
  durationMs: number | null;
  /** Recording start in ms since the Unix epoch (Info/DateUTC), null when absent. */
  startedAtMs: number | null;
  /** Video size in pixels (first video track), null when absent. */
  width: number | null;
  height: number | null;
  /** Nanoseconds per timestamp tick (TimestampScale). Default 1,000,000 (1 ms). */
  timestampScaleNs: number;
  /** Frame duration from DefaultDuration in ms, null when absent. */
  defaultFrameMs: number | null;
  /** Absolute offset of the Segment's data (cue positions are relative to it). */
  segmentDataOffset: number;
  /** Absolute offset and total byte length (ID + size + body) of the Info element. */
  infoOffset: number;
  infoLength: number;
  /** Absolute offset of the body of Info, and its byte length. */
  infoBodyOffset: number;
  infoBodyLength: number;
  /** Absolute offset of the first Cluster, or null when there is none yet. */
  firstClusterOffset: number | null;
}

/** Result of walking the clusters of a file (see scanMatroska). */
export interface MatroskaScan {
  header: MatroskaHeader;
  /** Complete blocks found, and how many were keyframes. */
  blocks: number;
  keyBlocks: number;
  /** Earliest and latest block presentation time in ms (relative to the file's zero), null without blocks. */
  firstBlockMs: number | null;
  lastBlockMs: number | null;
  /** Byte offset just after the last complete block (or the header when there are none). */
  endOfLastBlock: number;
  /** Clusters seen: absolute offset and timestamp in ms. */
  clusters: { offset: number; timestampMs: number }[];
  /** True when a Cues element follows the clusters (the writer finished the file). */
  hasCues: boolean;
  /** True when the file ends inside an element (a write cut short). */
  truncated: boolean;
  /** File size in bytes when scanned. */
  fileSize: number;
}

/** An unsigned integer element's value (at most 8 bytes are read: a longer body is not a valid uint, and its size came from the file). */
async function readUintBody(r: EbmlFileReader, el: EbmlHead): Promise<number> {
  return readUint(await r.read(el.dataOffset, Math.min(el.size, 8)));
}

function readFloat(b: Buffer): number {
  if (b.length === 4) return b.readFloatBE(0);
  if (b.length === 8) return b.readDoubleBE(0);
  return NaN;
}

/** Parses the header of an open file. Throws Error when it is not a Matroska file we can read. */
async function readHeaderFrom(r: EbmlFileReader): Promise<MatroskaHeader> {
  const ebml = await r.head(0);
  if (!ebml || ebml.id !== EbmlId.EBML || ebml.size < 0) throw new Error('not a Matroska file (no EBML header)');
  const seg = await r.head(ebml.dataOffset + ebml.size);
  if (!seg || seg.id !== EbmlId.Segment) throw new Error('not a Matroska file (no Segment)');
  const header: MatroskaHeader = {
    durationMs: null,
    startedAtMs: null,
    width: null,
    height: null,
    timestampScaleNs: 1_000_000,
    defaultFrameMs: null,
    segmentDataOffset: seg.dataOffset,
    infoOffset: -1,
    infoLength: 0,
    infoBodyOffset: -1,
    infoBodyLength: 0,
    firstClusterOffset: null,
  };
  let rawDuration: number | null = null;
  let pos = seg.dataOffset;
  const segEnd = seg.size < 0 ? r.size : Math.min(r.size, seg.dataOffset + seg.size);
  while (pos < segEnd) {
    const el = await r.head(pos);
    if (!el || (el.size < 0 && el.id !== EbmlId.Cluster)) break;
    if (el.id === EbmlId.Cluster) {
      header.firstClusterOffset = el.offset;
      break;
    }
    if (el.id === EbmlId.Info) {
      header.infoOffset = el.offset;
      header.infoLength = el.dataOffset - el.offset + el.size;
      header.infoBodyOffset = el.dataOffset;
      header.infoBodyLength = el.size;
      for (let p = el.dataOffset; p < el.dataOffset + el.size; ) {
        const c = await r.head(p);
        if (!c || c.size < 0) break;
        const body = Buffer.from(await r.read(c.dataOffset, Math.min(c.size, 16)));
        if (c.id === EbmlId.TimestampScale) header.timestampScaleNs = readUint(body) || 1_000_000;
        else if (c.id === EbmlId.Duration) rawDuration = readFloat(body);
        else if (c.id === EbmlId.DateUTC && body.length === 8)
          header.startedAtMs = MATROSKA_EPOCH_MS + Number(body.readBigInt64BE(0) / 1_000_000n);
        p = c.dataOffset + c.size;
      }
    } else if (el.id === EbmlId.Tracks) {
      await readTracks(r, el, header);
    }
    if (el.size < 0) break;
    pos = el.dataOffset + el.size;
  }
  if (rawDuration !== null && Number.isFinite(rawDuration))
    header.durationMs = Math.round((rawDuration * header.timestampScaleNs) / 1e6);
  return header;
}

async function readTracks(r: EbmlFileReader, tracks: EbmlHead, header: MatroskaHeader): Promise<void> {
  for (let p = tracks.dataOffset; p < tracks.dataOffset + tracks.size; ) {
    const entry = await r.head(p);
    if (!entry || entry.size < 0) return;
    if (entry.id === EbmlId.TrackEntry) {
      for (let q = entry.dataOffset; q < entry.dataOffset + entry.size; ) {
        const c = await r.head(q);
        if (!c || c.size < 0) return;
        if (c.id === EbmlId.DefaultDuration) header.defaultFrameMs = (await readUintBody(r, c)) / 1e6;
        if (c.id === EbmlId.Video && header.width === null) {
          for (let v = c.dataOffset; v < c.dataOffset + c.size; ) {
            const f = await r.head(v);
            if (!f || f.size < 0) break;
            if (f.id === EbmlId.PixelWidth) header.width = await readUintBody(r, f);
            if (f.id === EbmlId.PixelHeight) header.height = await readUintBody(r, f);
            v = f.dataOffset + f.size;
          }
        }
        q = c.dataOffset + c.size;
      }
    }
    p = entry.dataOffset + entry.size;
  }
}

/**
 * Reads only the header of a Matroska file (a few KB at most): duration,
 * start time, size. Throws Error when the file is not Matroska.
 */
export async function readMatroskaHeader(path: string): Promise<MatroskaHeader> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    return await readHeaderFrom(new EbmlFileReader(fh, size, WINDOW_BYTES));
  } finally {
    await fh.close();
  }
}

/**
 * Walks every cluster and block header of a file (block payloads are
 * skipped, not read), to find the last complete block of a file cut short
 * and the time span of what it holds. `limitBytes` treats the file as that
 * long (a file still being written). Cost: one small read per block.
 */
export async function scanMatroska(path: string, limitBytes?: number): Promise<MatroskaScan> {
  const fh = await open(path, 'r');
  try {
    const { size: realSize } = await fh.stat();
    const size = limitBytes === undefined ? realSize : Math.min(realSize, limitBytes);
    const r = new EbmlFileReader(fh, size, WINDOW_BYTES);
    const header = await readHeaderFrom(r);
    const tickMs = header.timestampScaleNs / 1e6;
    const scan: MatroskaScan = {
      header,
      blocks: 0,
      keyBlocks: 0,
      firstBlockMs: null,
      lastBlockMs: null,
      endOfLastBlock: header.firstClusterOffset ?? size,
      clusters: [],
      hasCues: false,
      truncated: false,
      fileSize: size,
    };
    let pos = header.firstClusterOffset ?? size;
    let clusterTs = 0;
    let inCluster = false;
    let clusterEnd = Infinity;
    let clusterOffset = 0;
    while (pos < size) {
      const el = await r.head(pos);
      if (!el) {
        scan.truncated = true;
        break;
      }
      if (inCluster && (LEVEL1_IDS.has(el.id) || pos >= clusterEnd)) inCluster = false;
      if (el.id === EbmlId.Cluster) {
        inCluster = true;
        clusterOffset = el.offset;
        clusterEnd = el.size < 0 ? Infinity : el.dataOffset + el.size;
        pos = el.dataOffset;
        continue;
      }
      if (el.size < 0 || el.dataOffset + el.size > size) {
        scan.truncated = true;
        break;
      }
      if (el.id === EbmlId.Cues) scan.hasCues = true;
      if (inCluster) {
        if (el.id === EbmlId.Timestamp) {
          clusterTs = await readUintBody(r, el);
          scan.clusters.push({ offset: clusterOffset, timestampMs: clusterTs * tickMs });
        } else if (el.id === EbmlId.SimpleBlock || el.id === EbmlId.BlockGroup) {
          let blockOffset = el.dataOffset;
          if (el.id === EbmlId.BlockGroup) {
            const inner = await r.head(el.dataOffset);
            if (!inner || inner.id !== EbmlId.Block) blockOffset = -1;
            else blockOffset = inner.dataOffset;
          }
          if (blockOffset >= 0) {
            const b = await r.read(blockOffset, 4);
            // Track number (1-byte vint for our single track), int16 relative time, flags.
            const trackLength = (b[0] as number) >= 0x80 ? 1 : 2;
            const rel = Buffer.from(b).readInt16BE(trackLength);
            const flags = b[trackLength + 2] as number;
            const tMs = (clusterTs + rel) * tickMs;
            scan.blocks++;
            if (el.id === EbmlId.SimpleBlock && flags & 0x80) scan.keyBlocks++;
            scan.firstBlockMs = scan.firstBlockMs === null ? tMs : Math.min(scan.firstBlockMs, tMs);
            scan.lastBlockMs = scan.lastBlockMs === null ? tMs : Math.max(scan.lastBlockMs, tMs);
            scan.endOfLastBlock = el.dataOffset + el.size;
          }
        }
      }
      pos = el.dataOffset + el.size;
    }
    return scan;
  } finally {
    await fh.close();
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A Void element of exactly `n` bytes (n >= 2). */
function voidElement(n: number): Uint8Array {
  const size =
    n - 2 < 127
      ? encodeSize(n - 2)
      : (() => {
          const s = new Uint8Array(2);
          s[0] = 0x40 | ((n - 3) >> 8);
          s[1] = (n - 3) & 0xff;
          return s;
        })();
  const out = new Uint8Array(n);
  out[0] = EbmlId.Void;
  out.set(size, 1);
  return out;
}

/**
 * Builds an Info body of exactly `length` bytes holding TimestampScale, the
 * optional Duration and DateUTC, MuxingApp and WritingApp (shortened to fit)
 * and a Void filler. Undefined when it cannot fit.
 */
export function buildInfoBody(
  length: number,
  fields: { timestampScaleNs: number; durationMs: number | null; startedAtMs: number | null },
): Uint8Array | undefined {
  const fixed: Uint8Array[] = [encodeElement(EbmlId.TimestampScale, encodeUint(fields.timestampScaleNs))];
  if (fields.durationMs !== null) {
    const d = Buffer.alloc(8);
    d.writeDoubleBE((fields.durationMs * 1e6) / fields.timestampScaleNs);
    fixed.push(encodeElement(EbmlId.Duration, d));
  }
  if (fields.startedAtMs !== null) {
    const d = Buffer.alloc(8);
    d.writeBigInt64BE(BigInt(Math.round(fields.startedAtMs - MATROSKA_EPOCH_MS)) * 1_000_000n);
    fixed.push(encodeElement(EbmlId.DateUTC, d));
  }
  const fixedLength = fixed.reduce((n, p) => n + p.length, 0);
  for (const [muxing, writing] of [
    ['mediabunny', 'rearview'],
    ['mb', 'rv'],
    ['', ''],
  ] as const) {
    const apps = [
      encodeElement(EbmlId.MuxingApp, Buffer.from(muxing)),
      encodeElement(EbmlId.WritingApp, Buffer.from(writing)),
    ];
    let rest = length - fixedLength - apps[0]!.length - apps[1]!.length;
    if (rest < 0) continue;
    if (rest === 1) {
      // A Void needs two bytes: grow WritingApp by one character instead.
      apps[1] = encodeElement(EbmlId.WritingApp, Buffer.from(`${writing} `));
      rest = 0;
    }
    return concat([...fixed, ...apps, ...(rest > 0 ? [voidElement(rest)] : [])]);
  }
  return undefined;
}

/**
 * Rewrites the Info element of a file in place (same byte length) with the
 * given Duration and/or DateUTC, keeping values not given. Only a few dozen
 * bytes near the start change, in one write, so a crash during the patch
 * cannot damage the media. Returns false when Info has no room (the file is
 * left untouched).
 */
export async function patchMatroskaInfo(
  path: string,
  fields: { durationMs?: number; startedAtMs?: number },
): Promise<boolean> {
  const fh = await open(path, constants.O_RDWR | constants.O_NOFOLLOW); // a planted link is never written through
  try {
    const { size } = await fh.stat();
    const header = await readHeaderFrom(new EbmlFileReader(fh, size, WINDOW_BYTES));
    if (header.infoBodyOffset < 0) return false;
    const body = buildInfoBody(header.infoBodyLength, {
      timestampScaleNs: header.timestampScaleNs,
      durationMs: fields.durationMs ?? header.durationMs,
      startedAtMs: fields.startedAtMs ?? header.startedAtMs,
    });
    if (!body) return false;
    await fh.write(body, 0, body.length, header.infoBodyOffset);
    return true;
  } finally {
    await fh.close();
  }
}

/**
 * Moves a finished segment's DateUTC from `fromMs` to `toMs` (the clock was
 * set after the segment was stamped), in place and with the same length,
 * keeping its modification time (what lists it, e.g. `date_updated`, does
 * not change). Opened once without following links; only a regular file
 * with one link whose DateUTC is `fromMs` (to the millisecond) is changed.
 * Returns false, changing nothing, for any other file.
 */
export async function restampMatroskaStart(path: string, fromMs: number, toMs: number): Promise<boolean> {
  const fh = await open(path, constants.O_RDWR | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.nlink !== 1) return false;
    const header = await readHeaderFrom(new EbmlFileReader(fh, st.size, WINDOW_BYTES));
    if (header.infoBodyOffset < 0 || header.startedAtMs === null || Math.abs(header.startedAtMs - fromMs) >= 1)
      return false;
    const body = buildInfoBody(header.infoBodyLength, {
      timestampScaleNs: header.timestampScaleNs,
      durationMs: header.durationMs,
      startedAtMs: toMs,
    });
    if (!body) return false;
    await fh.write(body, 0, body.length, header.infoBodyOffset);
    await fh.utimes(st.atimeMs / 1000, st.mtimeMs / 1000); // numbers: a Date would drop the sub-millisecond part
    return true;
  } finally {
    await fh.close();
  }
}

/** Builds a Cues element with one CuePoint per cluster (track 1), positions relative to the segment data. */
export function buildCues(
  clusters: { offset: number; timestampMs: number }[],
  segmentDataOffset: number,
  timestampScaleNs = 1_000_000,
): Uint8Array {
  const points = clusters.map((c) =>
    encodeElement(
      EbmlId.CuePoint,
      concat([
        encodeElement(EbmlId.CueTime, encodeUint(Math.round((c.timestampMs * 1e6) / timestampScaleNs))),
        encodeElement(
          EbmlId.CueTrackPositions,
          concat([
            encodeElement(EbmlId.CueTrack, encodeUint(1)),
            encodeElement(EbmlId.CueClusterPosition, encodeUint(c.offset - segmentDataOffset)),
          ]),
        ),
      ]),
    ),
  );
  return encodeElement(EbmlId.Cues, concat(points));
}

/** What `repairMatroska` did. */
export interface MatroskaRepair {
  /** Bytes cut from the end (a partly written block). */
  truncatedBytes: number;
  /** Duration written into Info, ms. */
  durationMs: number;
  /** Complete blocks kept. */
  blocks: number;
  /** True when Cues were appended. */
  addedCues: boolean;
}

/**
 * Makes a segment left unfinished by a crash whole: cuts a partly written
 * block from the end, appends Cues for the clusters found, and writes the
 * Duration (last block time + one frame). `frameMs` is used when the file
 * has no DefaultDuration (default 1000/30).
 * Throws Error when the file is not a Matroska file at all.
 */
export async function repairMatroska(path: string, frameMs = 1000 / 30): Promise<MatroskaRepair> {
  const scan = await scanMatroska(path);
  const frame = scan.header.defaultFrameMs ?? frameMs;
  const durationMs = scan.lastBlockMs === null ? 0 : Math.round(scan.lastBlockMs - (scan.firstBlockMs ?? 0) + frame);
  let truncatedBytes = 0;
  let addedCues = false;
  const fh = await open(path, constants.O_RDWR | constants.O_NOFOLLOW); // a planted link is never written through
  try {
    if (!scan.hasCues) {
      truncatedBytes = scan.fileSize - scan.endOfLastBlock;
      await fh.truncate(scan.endOfLastBlock);
      const clusters = scan.clusters.filter((c) => c.offset < scan.endOfLastBlock);
      if (clusters.length > 0) {
        const cues = buildCues(clusters, scan.header.segmentDataOffset, scan.header.timestampScaleNs);
        await fh.write(cues, 0, cues.length, scan.endOfLastBlock);
        addedCues = true;
      }
      await fh.sync();
    }
  } finally {
    await fh.close();
  }
  await patchMatroskaInfo(path, { durationMs });
  return { truncatedBytes, durationMs, blocks: scan.blocks, addedCues };
}
