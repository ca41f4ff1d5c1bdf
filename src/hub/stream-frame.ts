/**
 * What the StreamHub hands to every reader: one access unit, cleaned up and
 * timestamped once by the hub so that readers never re-parse or re-serialise.
 */
import type { NalUnit } from '../h264/nal-unit.js';
import type { PictureParameterSet } from '../h264/pps.js';
import type { SequenceParameterSet } from '../h264/sps.js';

/**
 * The stream's current parameter sets. A new object (with a higher
 * `generation`) whenever the source restarts or the SPS/PPS change, so a
 * reader can compare by identity.
 */
export interface StreamParams {
  /** Increases by one on every parameter-set change or source restart. */
  readonly generation: number;
  readonly sps: SequenceParameterSet;
  readonly pps: PictureParameterSet;
  /** Raw SPS and PPS NAL units (header byte first, no start code). */
  readonly spsNal: Uint8Array;
  readonly ppsNal: Uint8Array;
  /** RFC 6381 codec string, e.g. "avc1.42c01e". */
  readonly codec: string;
  /** Display size in pixels (after cropping). */
  readonly width: number;
  readonly height: number;
  /** Nominal frame rate (VUI timing, else the source's configured rate). */
  readonly fps: number;
}

/** One access unit as distributed by the hub to its readers. */
export interface StreamFrame {
  /** Hub sequence number: +1 per frame published. */
  readonly seq: number;
  /** An IDR access unit; `nals` then starts with the current SPS and PPS. */
  readonly isKey: boolean;
  /** Presentation and decode time in 90 kHz units (equal when the stream has no B-frames). */
  readonly pts90k: number;
  readonly dts90k: number;
  /** Wall-clock capture time in ms since the Unix epoch (as stamped by the source). */
  readonly capturedAtMs: number;
  /** performance.now() when the source delivered the complete access unit to the hub. */
  readonly deliveredAtMono: number;
  /**
   * NAL units in decode order, no start codes: for a key frame SPS and PPS
   * first (owned by the hub), then the capture-time SEI when enabled, then
   * the rest of the access unit. Never contains an AUD.
   */
  readonly nals: readonly NalUnit[];
  /**
   * The bytes served on raw TCP (port 5000): each NAL with a 4-byte start code,
   * followed by an access unit delimiter that tells Annex-B receivers the
   * frame has ended (docs/protocol.md). Built once, shared by every client.
   */
  readonly annexB: Uint8Array;
  /** Parameter sets in force for this frame. */
  readonly params: StreamParams;
}
