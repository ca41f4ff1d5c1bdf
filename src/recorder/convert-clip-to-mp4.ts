/**
 * A clip by wall-clock time: the frames of several consecutive segments
 * between two capture times, muxed into one fragmented MP4 without
 * re-encoding, by the same reader and muxer as the per-segment download
 * (convert-mkv-reader.ts, convert-mkv-to-mp4.ts mp4Output). Runs in the
 * converter worker thread (convert-worker.ts) like a conversion.
 *
 * - Start: the keyframe at or before `fromMs` (the frames of its GOP before
 *   `fromMs` are the lead-in), so the clip decodes from its first frame.
 * - End: the first frame (decode order) whose capture time is at or after
 *   `toMs` ends it: the last frame shown is the one before `toMs`.
 * - Joins: each segment continues where the previous one ended (its last
 *   frame plus one frame interval), plus whole frame intervals for a real
 *   gap (dropped frames), so jitter of the segments' start stamps never
 *   duplicates or skips a frame slot. The caller refuses larger gaps
 *   (clip-plan.ts).
 * - A segment whose parameter sets differ from the first one's (the source
 *   restarted at the same size) gets them in-band before its first keyframe.
 * - Capture time: `mvhd`/`tkhd`/`mdhd` creation time (whole seconds, UTC) and
 *   the `©day` date are the first frame's capture time, and `©cmt` holds it
 *   to the millisecond (`rearview capture start 2026-...Z`); every frame
 *   keeps its capture-time SEI (per-sample time) when the camera inserts it
 *   (`timestamps`, on by default).
 */
import { basename } from 'node:path';
import { EncodedPacket, EncodedVideoPacketSource } from 'mediabunny';
import { RearviewError } from '../errors.js';
import type { ConvertOptions } from './conversion-result.js';
import { fdWriter, mp4Output } from './convert-mkv-to-mp4.js';
import { openMkvVideo, type MkvFrame, type MkvVideoTrack } from './convert-mkv-reader.js';

/** One segment of a clip, in time order. */
export interface ClipJobSegment {
  /** Path to read (the daemon passes `/proc/PID/fd/N` of a checked descriptor). */
  path: string;
  /** Name for messages. */
  name: string;
  /** Capture time of its first frame, ms since the epoch. */
  startedAtMs: number;
  /** Read as if this long (a segment being recorded). */
  limitBytes?: number;
}

/** What to cut. */
export interface ClipJob {
  segments: ClipJobSegment[];
  fromMs: number;
  toMs: number;
}

/** What a clip export produced. */
export interface ClipResult {
  bytes: number;
  samples: number;
  trimmedFragments: number;
  /** Capture time of the first frame (the keyframe at or before fromMs). */
  startMs: number;
  /** Capture time just after the last frame (its time plus one frame interval). */
  endMs: number;
  /** Media duration of the clip, seconds. */
  durationS: number;
  /** Joins between segments crossed. */
  joins: number;
}

/** Seconds between 1904-01-01 (MP4 time) and 1970-01-01. */
const MP4_EPOCH_OFFSET_S = 2_082_844_800;

/**
 * Writes the clip to `write` (or `options.output`); `onStart` hears the
 * first frame's capture time before the first byte is written (the HTTP
 * side puts it in a header). Rejects with RearviewError ERR_CONVERT (a
 * segment unreadable, no keyframe in range) or ERR_NOT_FOUND.
 */
export async function convertClipToMp4(
  job: ClipJob,
  write: (chunk: Uint8Array) => Promise<void>,
  options: ConvertOptions & { onStart?: (startMs: number) => void; shouldStop?: () => boolean } = {},
): Promise<ClipResult> {
  const out = mp4Output(options.output ? fdWriter(options.output) : write, options);
  const output = out.output;
  const source = new EncodedVideoPacketSource('avc');
  output.addVideoTrack(source);
  let first: MkvVideoTrack | undefined;
  let started = false;
  let startMs = 0;
  let lastEndS = 0;
  let endMs = 0;
  let joins = 0;
  let done = false;
  const emit = async (f: MkvFrame, ts: number, track: MkvVideoTrack, data: Uint8Array): Promise<void> => {
    const packet = new EncodedPacket(data, f.key ? 'key' : 'delta', ts, track.frameSeconds);
    if (!started) {
      const t0 = new Date(startMs);
      output.setMetadataTags({ date: t0, comment: `rearview capture start ${t0.toISOString()}` });
      options.onStart?.(startMs); // before the first byte (start() writes the file header)
      await output.start();
      // mediabunny stamps the file with the time of muxing; a clip's creation time is its capture time.
      const muxer = (output as unknown as { _muxer?: { creationTime?: number } })._muxer;
      if (muxer && typeof muxer.creationTime === 'number')
        muxer.creationTime = Math.floor(startMs / 1000) + MP4_EPOCH_OFFSET_S;
      await source.add(packet, {
        decoderConfig: {
          codec: track.codec,
          codedWidth: track.codedWidth,
          codedHeight: track.codedHeight,
          description: track.description,
        },
      });
      started = true;
    } else await source.add(packet);
    lastEndS = Math.max(lastEndS, ts + track.frameSeconds);
  };
  try {
    for (const seg of job.segments) {
      if (done) break;
      const reader = await openMkvVideo(seg.path, seg.limitBytes).catch((err: Error) => {
        throw new RearviewError('ERR_CONVERT', `cannot read ${seg.name}: ${err.message}`, { cause: err });
      });
      if (!reader) throw new RearviewError('ERR_CONVERT', `${seg.name} is not a recording the clip reader handles`);
      try {
        const track = reader.track;
        first ??= track;
        if (track.codedWidth !== first.codedWidth || track.codedHeight !== first.codedHeight)
          throw new RearviewError(
            'ERR_CONVERT',
            `${seg.name} is ${track.codedWidth}x${track.codedHeight}, the clip ${first.codedWidth}x${first.codedHeight}`,
          );
        const inBand = sameBytes(track.description, first.description) ? undefined : parameterSetsOf(track.description);
        let segZero: number | undefined;
        let base = 0;
        let gop: MkvFrame[] = [];
        let firstOfSegment = true;
        for await (const f of reader.frames()) {
          // The client left: stop cutting (an hour of clip is minutes of the converter's time).
          if (options.shouldStop?.()) throw new RearviewError('ERR_ABORTED', 'the clip export was cancelled');
          segZero ??= f.timestampS;
          const wallMs = seg.startedAtMs + (f.timestampS - segZero) * 1000;
          if (!started) {
            // Before `from`: keep the GOP since the last keyframe (the lead-in).
            if (wallMs < job.fromMs) {
              if (f.key) gop = [f];
              else if (gop.length > 0) gop.push(f);
              continue;
            }
            if (f.key) gop = [f];
            else if (gop.length === 0)
              continue; // no keyframe yet (cannot happen: segments start with one)
            else gop.push(f);
            const k = gop[0] as MkvFrame;
            startMs = seg.startedAtMs + (k.timestampS - segZero) * 1000;
            base = -(k.timestampS - segZero);
            if (startMs >= job.toMs) break;
            for (const g of gop) {
              const gw = seg.startedAtMs + (g.timestampS - segZero) * 1000;
              if (gw >= job.toMs) continue;
              await emit(g, base + (g.timestampS - segZero), track, g.data);
              endMs = Math.max(endMs, gw + track.frameSeconds * 1000);
            }
            gop = [];
            firstOfSegment = false;
            continue;
          }
          if (firstOfSegment) {
            firstOfSegment = false;
            if (!f.key) throw new RearviewError('ERR_CONVERT', `${seg.name} does not start with a keyframe`);
            joins++;
            // Continue on the frame grid: where the previous segment ended, plus any whole frames missing.
            const expected = (seg.startedAtMs - startMs) / 1000;
            const missing = Math.max(0, Math.round((expected - lastEndS) / track.frameSeconds));
            base = lastEndS + missing * track.frameSeconds;
          }
          if (wallMs >= job.toMs) {
            done = true;
            break;
          }
          const data = inBand && f.key ? concatBytes(inBand, f.data) : f.data;
          await emit(f, base + (f.timestampS - segZero), track, data);
          endMs = Math.max(endMs, wallMs + track.frameSeconds * 1000);
        }
      } finally {
        await reader.close();
      }
    }
    if (!started)
      throw new RearviewError('ERR_CONVERT', 'no keyframe at or before the start of the clip in the recordings');
    await output.finalize();
  } catch (err) {
    await output.cancel().catch(() => undefined); // already failing: the first error is reported
    throw err instanceof RearviewError
      ? err
      : new RearviewError(
          'ERR_CONVERT',
          `exporting the clip (${job.segments.map((s) => basename(s.name)).join(', ')}) failed: ${(err as Error).message}`,
          { cause: err },
        );
  }
  const r = out.result();
  if (r.samples === 0) throw new RearviewError('ERR_CONVERT', 'the clip came out empty (damaged segments?)');
  return { ...r, startMs, endMs, durationS: lastEndS, joins };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The SPS and PPS of an avcC record as 4-byte length-prefixed NAL units (the packets' format). */
export function parameterSetsOf(avcc: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let p = 5;
  const take = (count: number): void => {
    for (let i = 0; i < count && p + 2 <= avcc.byteLength; i++) {
      const len = ((avcc[p] as number) << 8) | (avcc[p + 1] as number);
      p += 2;
      const nal = avcc.subarray(p, p + len);
      p += len;
      const prefixed = new Uint8Array(4 + nal.byteLength);
      new DataView(prefixed.buffer).setUint32(0, nal.byteLength);
      prefixed.set(nal, 4);
      parts.push(prefixed);
    }
  };
  take((avcc[p++] as number) & 0x1f);
  take(avcc[p++] as number);
  return concatBytes(...parts);
}

function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, x) => n + x.byteLength, 0));
  let o = 0;
  for (const x of parts) {
    out.set(x, o);
    o += x.byteLength;
  }
  return out;
}
