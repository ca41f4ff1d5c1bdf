/**
 * The hub's frames as an FLV byte stream (video only, AVC), for the ffmpeg
 * child of a publisher (src/outputs/publisher.ts). FLV rather than raw
 * Annex-B because it carries each frame's timestamps: the child copies the
 * capture-time pts/dts the hub assigned instead of inventing them from a
 * frame rate (which drifts as soon as a frame is skipped) or from the time
 * bytes reach it through the pipe. FLV is the smallest container that
 * carries dts and a composition offset; ffmpeg remuxes it to RTSP, FLV/RTMP
 * or MPEG-TS/SRT without touching the video.
 *
 * One writer per ffmpeg run: the header and the AVC sequence header (avcC
 * from the frame's parameter sets) go out before the first frame, which must
 * be a keyframe; timestamps count from that frame, in ms (FLV's unit).
 */
import { buildAvcDecoderConfigurationRecord } from '../h264/avcc.js';
import type { StreamFrame } from '../hub/stream-frame.js';

const TAG_VIDEO = 9;
/** FLV header (version 1, video only) followed by PreviousTagSize0. */
const FLV_HEADER = Uint8Array.from([0x46, 0x4c, 0x56, 1, 0x01, 0, 0, 0, 9, 0, 0, 0, 0]);

/** Turns frames of one parameter-set generation into FLV. */
export class FlvWriter {
  private baseDts90k: number | undefined;
  private lastDtsMs = -1;
  /** The generation the sequence header was written for. */
  generation: number | undefined;

  /**
   * The FLV bytes for `frame` (header and sequence header first for the
   * first frame). Returns undefined for a frame that cannot start the
   * stream (not a keyframe).
   */
  write(frame: StreamFrame): Uint8Array[] | undefined {
    const out: Uint8Array[] = [];
    if (this.baseDts90k === undefined) {
      if (!frame.isKey) return undefined;
      this.baseDts90k = frame.dts90k;
      this.generation = frame.params.generation;
      out.push(FLV_HEADER);
      const avcc = buildAvcDecoderConfigurationRecord([frame.params.spsNal], [frame.params.ppsNal]);
      const body = new Uint8Array(5 + avcc.length);
      body[0] = 0x17; // keyframe, AVC
      body[1] = 0; // AVC sequence header
      body.set(avcc, 5);
      out.push(tag(0, body));
    }
    // Monotonic ms (FLV's unit); the hub's dts is strictly increasing in 90 kHz, rounding may tie.
    let dtsMs = Math.round((frame.dts90k - this.baseDts90k) / 90);
    if (dtsMs <= this.lastDtsMs) dtsMs = this.lastDtsMs + 1;
    this.lastDtsMs = dtsMs;
    const ctsMs = Math.max(0, Math.round((frame.pts90k - frame.dts90k) / 90));
    let size = 5;
    for (const nal of frame.nals) size += 4 + nal.data.length;
    const body = new Uint8Array(size);
    body[0] = frame.isKey ? 0x17 : 0x27;
    body[1] = 1; // AVC NALU
    body[2] = (ctsMs >> 16) & 0xff;
    body[3] = (ctsMs >> 8) & 0xff;
    body[4] = ctsMs & 0xff;
    const view = new DataView(body.buffer);
    let at = 5;
    for (const nal of frame.nals) {
      view.setUint32(at, nal.data.length);
      body.set(nal.data, at + 4);
      at += 4 + nal.data.length;
    }
    out.push(tag(dtsMs, body));
    return out;
  }
}

/** One FLV tag: 11-byte header, body, 4-byte PreviousTagSize. */
function tag(timestampMs: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(11 + body.length + 4);
  const view = new DataView(out.buffer);
  out[0] = TAG_VIDEO;
  out[1] = (body.length >> 16) & 0xff;
  out[2] = (body.length >> 8) & 0xff;
  out[3] = body.length & 0xff;
  // 24-bit timestamp plus an extension byte for the high 8 bits (49 days of ms).
  const ts = timestampMs >>> 0;
  out[4] = (ts >> 16) & 0xff;
  out[5] = (ts >> 8) & 0xff;
  out[6] = ts & 0xff;
  out[7] = (ts >>> 24) & 0xff;
  // stream id 0 (bytes 8..10)
  out.set(body, 11);
  view.setUint32(11 + body.length, 11 + body.length);
  return out;
}
