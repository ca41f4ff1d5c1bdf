/**
 * The file writers behind `rearview record`, fed with client-library frames.
 *
 * - `.mkv`: the recorder's own crash-safe SegmentWriter (append-only
 *   Matroska written through without buffers; a kill loses at most what the
 *   OS had not written, and the file plays up to there).
 * - `.mp4`: fragmented MP4 (mediabunny, `fastStart: 'fragmented'`, one
 *   fragment per second, written through without buffers): a kill leaves a
 *   playable file up to the last complete fragment, so at most about one
 *   second is lost. A plain MP4 would be unreadable without its final moov.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { EncodedPacket, EncodedVideoPacketSource, Mp4OutputFormat, Output } from 'mediabunny';
import { annexBToLengthPrefixed, buildAvcDecoderConfigurationRecord } from '../h264/avcc.js';
import { NalUnitType, nalUnitFromBytes } from '../h264/nal-unit.js';
import { parsePps } from '../h264/pps.js';
import { parseSps } from '../h264/sps.js';
import type { StreamFrame, StreamParams } from '../hub/stream-frame.js';
import { fileTarget, type FileTarget } from '../recorder/file-target.js';
import { SegmentWriter } from '../recorder/segment-writer.js';
import type { ClientFrame } from '../client/stream-client.js';

/** What both writers offer. */
export interface RecordingWriter {
  readonly path: string;
  /** Bytes written so far. */
  readonly bytes: number;
  start(): Promise<void>;
  /** Appends one frame; the first must be a keyframe. */
  write(frame: ClientFrame, capturedAtMs: number): Promise<void>;
  /** Finishes the file. Idempotent. */
  close(): Promise<void>;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** SPS and PPS NAL units of a key frame, or undefined when it lacks them. */
export function parameterSetsOf(frame: ClientFrame): { sps: Uint8Array; pps: Uint8Array } | undefined {
  let sps: Uint8Array | undefined;
  let pps: Uint8Array | undefined;
  frame.nalTypes.forEach((type, i) => {
    if (type === NalUnitType.SPS && !sps) sps = frame.nals[i];
    if (type === NalUnitType.PPS && !pps) pps = frame.nals[i];
  });
  return sps && pps ? { sps, pps } : undefined;
}

/** True when `frame` carries parameter sets that differ from `params` (a new resolution needs a new file). */
export function parametersChanged(
  frame: ClientFrame,
  params: { spsNal: Uint8Array; ppsNal: Uint8Array } | undefined,
): boolean {
  const sets = parameterSetsOf(frame);
  if (!sets || !params) return false;
  return !sameBytes(sets.sps, params.spsNal) || !sameBytes(sets.pps, params.ppsNal);
}

/** Builds hub-style StreamParams from a key frame's SPS/PPS (what SegmentWriter needs). */
export function paramsFromKeyFrame(frame: ClientFrame, fallbackFps: number): StreamParams {
  const sets = parameterSetsOf(frame);
  if (!sets) throw new RangeError('the first frame of a recording must be a keyframe with SPS and PPS');
  const sps = parseSps(sets.sps);
  const pps = parsePps(sets.pps, () => sps);
  return {
    generation: 1,
    sps,
    pps,
    spsNal: Uint8Array.from(sets.sps),
    ppsNal: Uint8Array.from(sets.pps),
    codec: frame.codec,
    width: sps.width,
    height: sps.height,
    fps: sps.fps ?? fallbackFps,
  };
}

/** Matroska through the recorder's SegmentWriter. */
export class MkvRecordingWriter implements RecordingWriter {
  private readonly writer: SegmentWriter;
  private seq = 0;

  constructor(
    readonly path: string,
    readonly params: StreamParams,
  ) {
    this.writer = new SegmentWriter({ path, params, overwrite: true }); // the user named the file: replace it, as before
  }

  /** Video payload bytes written (the file adds a little container overhead). */
  bytes = 0;

  /** Opens the file (rejects with the fs error). */
  start(): Promise<void> {
    return this.writer.start();
  }

  /** Appends one frame at `capturedAtMs` (ms since the epoch); the first must be a keyframe. */
  write(frame: ClientFrame, capturedAtMs: number): Promise<void> {
    // SegmentWriter reads a hub StreamFrame: wrap the client frame's NAL views (no copy).
    const hubFrame: StreamFrame = {
      seq: this.seq++,
      isKey: frame.isKey,
      pts90k: frame.pts90k,
      dts90k: frame.pts90k,
      capturedAtMs,
      deliveredAtMono: 0,
      nals: frame.nals.map((nal) => nalUnitFromBytes(nal)),
      annexB: frame.data,
      params: this.params,
    };
    this.bytes += frame.data.length;
    return this.writer.write(hubFrame);
  }

  /** Finishes the file (cues, duration). Idempotent. */
  async close(): Promise<void> {
    await this.writer.close();
  }
}

/** Fragmented MP4, see the file comment. */
export class Mp4RecordingWriter implements RecordingWriter {
  private fh: FileHandle | undefined;
  private output: Output | undefined;
  private source: EncodedVideoPacketSource | undefined;
  private frames = 0;
  private firstCapturedAtMs = 0;
  private lastMs = 0;
  private closed = false;
  private readonly frameMs: number;
  private file: FileTarget | undefined;

  /** Bytes written so far. */
  get bytes(): number {
    return this.file?.bytes ?? 0;
  }

  constructor(
    readonly path: string,
    readonly params: StreamParams,
  ) {
    this.frameMs = 1000 / (params.fps > 0 ? params.fps : 30);
  }

  /** Opens the file and writes the MP4 header (rejects with the fs error). */
  async start(): Promise<void> {
    this.fh = await open(this.path, 'w');
    this.file = fileTarget(this.fh);
    this.output = new Output({
      format: new Mp4OutputFormat({ fastStart: 'fragmented', minimumFragmentDuration: 1 }),
      target: this.file.target, // unchunked: every fragment reaches the OS as soon as it is complete
    });
    this.source = new EncodedVideoPacketSource('avc');
    // No frameRate: mediabunny would snap every timestamp to that grid, merging frames captured close together.
    this.output.addVideoTrack(this.source);
    await this.output.start();
  }

  /** Appends one frame at `capturedAtMs` (ms since the epoch); the first must be a keyframe. */
  async write(frame: ClientFrame, capturedAtMs: number): Promise<void> {
    if (!this.source || this.closed) throw new Error('Mp4RecordingWriter: write() before start() or after close()');
    if (this.frames === 0 && !frame.isKey)
      throw new RangeError('Mp4RecordingWriter: the first frame must be a keyframe');
    let ms: number;
    if (this.frames === 0) {
      this.firstCapturedAtMs = capturedAtMs;
      ms = 0;
    } else {
      ms = capturedAtMs - this.firstCapturedAtMs;
      // Timestamps must increase: a stalled or jumping clock falls back to the nominal frame interval.
      if (!(ms > this.lastMs) || ms - this.lastMs > 5000) ms = this.lastMs + this.frameMs;
    }
    const nals: Uint8Array[] = [];
    frame.nalTypes.forEach((type, i) => {
      if (type !== NalUnitType.SPS && type !== NalUnitType.PPS && type !== NalUnitType.AUD)
        nals.push(frame.nals[i] as Uint8Array);
    });
    const packet = new EncodedPacket(
      annexBToLengthPrefixed(nals),
      frame.isKey ? 'key' : 'delta',
      ms / 1000,
      this.frameMs / 1000,
    );
    const meta =
      this.frames === 0
        ? {
            decoderConfig: {
              codec: this.params.codec,
              codedWidth: this.params.sps.codedWidth || this.params.width,
              codedHeight: this.params.sps.codedHeight || this.params.height,
              description: buildAvcDecoderConfigurationRecord([this.params.spsNal], [this.params.ppsNal]),
            },
          }
        : undefined;
    this.lastMs = ms;
    this.frames++;
    await this.source.add(packet, meta);
  }

  /** Writes the last fragment and closes the file. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.output && this.output.state === 'started') await this.output.finalize();
    } finally {
      await this.fh?.close().catch(() => {
        // the data was written (or its error thrown) above: a failing close adds nothing to report
      });
      this.fh = undefined;
    }
  }
}

/** `ride.mkv` + segment 3 -> `ride-0003.mkv` (only when segmenting). */
export function segmentPath(output: string, index: number | undefined): string {
  if (index === undefined) return output;
  const m = /^(.*?)(\.[^./\\]+)$/.exec(output);
  const stem = m ? m[1] : output;
  const ext = m ? m[2] : '';
  return `${stem}-${String(index).padStart(4, '0')}${ext}`;
}
