/**
 * Rearview's capture-time SEI: a user_data_unregistered SEI message
 * (H.264 D.1.7 / D.2.7, payloadType 5) carrying the wall-clock time at which
 * the camera captured the frame it precedes. Wire format (docs/protocol.md,
 * "Capture-time SEI"):
 *
 *   06                      NAL header (nal_ref_idc 0, nal_unit_type 6)
 *   05                      payloadType 5 (user_data_unregistered)
 *   18                      payloadSize 24
 *   43 5c 1e 1b ... 3b 41   uuid_iso_iec_11578 = CAPTURE_TIME_SEI_UUID
 *   tt tt tt tt tt tt tt tt capture time: unsigned 64-bit big-endian,
 *                           MICROSECONDS since the Unix epoch
 *   80                      rbsp_trailing_bits
 *
 * Emulation-prevention bytes (00 00 0x -> 00 00 03 0x) may appear inside the
 * 8 time bytes; the UUID was chosen without zero bytes so the 19-byte prefix
 * never needs escaping and can be matched byte for byte.
 *
 * This file builds and reads that one layout on a fast path (it runs once per
 * frame); readCaptureTimeSei also finds the message after other messages in
 * the same SEI NAL (as another writer might put it), through the generic SEI
 * iterator.
 */
import { nalToRbsp } from './rbsp.js';
import { iterateSeiMessages } from './sei.js';

/**
 * The UUID that marks Rearview's capture-time SEI:
 * 435c1e1b-bf10-469e-8205-c3dba5eb3b41 (random, version 4). Generated once;
 * never change it (clients match on it).
 */
export const CAPTURE_TIME_SEI_UUID: Uint8Array = new Uint8Array([
  0x43, 0x5c, 0x1e, 0x1b, 0xbf, 0x10, 0x46, 0x9e, 0x82, 0x05, 0xc3, 0xdb, 0xa5, 0xeb, 0x3b, 0x41,
]);

/** The same UUID as text, as written in docs/protocol.md. */
export const CAPTURE_TIME_SEI_UUID_TEXT = '435c1e1b-bf10-469e-8205-c3dba5eb3b41';

/** payloadType of user_data_unregistered (H.264 D.1). */
const USER_DATA_UNREGISTERED = 5;
/** 16-byte UUID + 8-byte time. */
const PAYLOAD_SIZE = 24;
/** NAL header + payloadType + payloadSize + UUID: identical in every capture-time SEI. */
const PREFIX = new Uint8Array([0x06, USER_DATA_UNREGISTERED, PAYLOAD_SIZE, ...CAPTURE_TIME_SEI_UUID]);
const PREFIX_LENGTH = PREFIX.length; // 19
const TWO_POW_32 = 0x1_0000_0000;

/**
 * Most bytes a capture-time SEI NAL unit can take: the 28-byte layout plus
 * up to 4 emulation-prevention bytes in the 8 time bytes (one per 2 zeros).
 */
export const CAPTURE_TIME_SEI_MAX_LENGTH = PREFIX_LENGTH + 8 + 4 + 1;

/**
 * Builds the capture-time SEI NAL unit (header byte first, no start code) for
 * a frame captured at `capturedAtMs` (wall-clock ms since the Unix epoch,
 * fractions kept to the microsecond). 28 bytes, or a few more when the time
 * bytes need emulation prevention. Throws RangeError for a negative or
 * non-finite time.
 */
export function buildCaptureTimeSei(capturedAtMs: number): Uint8Array {
  const out = new Uint8Array(CAPTURE_TIME_SEI_MAX_LENGTH);
  const length = writeCaptureTimeSei(capturedAtMs, out, 0);
  return length === out.length ? out : out.slice(0, length);
}

/**
 * Writes the same NAL unit as buildCaptureTimeSei into `out` at `offset`
 * (byte index) without allocating, for the once-per-frame path that builds a
 * frame's bytes in one buffer. `out` must have CAPTURE_TIME_SEI_MAX_LENGTH
 * bytes free at `offset` (or exactly the length a previous call for the same
 * time returned). Returns the number of bytes written (28 to 32). Throws
 * RangeError like buildCaptureTimeSei.
 */
export function writeCaptureTimeSei(capturedAtMs: number, out: Uint8Array, offset: number): number {
  const us = Math.round(capturedAtMs * 1000);
  if (!Number.isFinite(us) || us < 0 || us > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`capturedAtMs must be a non-negative finite time, got ${capturedAtMs}`);
  }
  const hi = Math.floor(us / TWO_POW_32);
  const lo = us - hi * TWO_POW_32;
  out.set(PREFIX, offset);
  let at = offset + PREFIX_LENGTH;
  // The byte before the time is the UUID's last byte (non-zero): no zero run carries in.
  let zeros = 0;
  // Big-endian, most significant byte first; no per-call array of the 8 bytes.
  for (let i = 0; i < 8; i++) {
    const b = i < 4 ? (hi >>> (24 - 8 * i)) & 0xff : (lo >>> (56 - 8 * i)) & 0xff;
    if (zeros >= 2 && b <= 3) {
      out[at++] = 3;
      zeros = 0;
    }
    out[at++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  // 0x80 after 00 00 is legal (only 00..03 need escaping).
  out[at++] = 0x80;
  return at - offset;
}

/**
 * Fast check: is `nal` (header byte first, no start code) a SEI NAL whose
 * first message is Rearview's capture-time SEI? Compares 19 bytes, no parsing.
 */
export function isCaptureTimeSei(nal: Uint8Array): boolean {
  if (nal.length < PREFIX_LENGTH + 8 + 1 || (nal[0]! & 0x1f) !== 6) return false;
  for (let i = 1; i < PREFIX_LENGTH; i++) if (nal[i] !== PREFIX[i]) return false;
  return true;
}

/**
 * Reads the capture time from a SEI NAL unit (header byte first, no start
 * code): the fast path for Rearview's own layout, else any position among
 * the NAL's messages. Returns wall-clock ms since the Unix epoch (fractional, microsecond
 * precision), or undefined when the NAL carries no capture-time message or
 * is malformed. Never throws.
 */
export function readCaptureTimeSei(nal: Uint8Array): number | undefined {
  if (isCaptureTimeSei(nal)) {
    // Fast path: unescape the 8 time bytes in place of a full RBSP pass.
    let hi = 0;
    let lo = 0;
    let n = 0;
    let zeros = 0;
    for (let i = PREFIX_LENGTH; i < nal.length && n < 8; i++) {
      const b = nal[i]!;
      if (zeros >= 2 && b === 3) {
        zeros = 0;
        continue;
      }
      if (n < 4) hi = hi * 256 + b;
      else lo = lo * 256 + b;
      n++;
      zeros = b === 0 ? zeros + 1 : 0;
    }
    if (n < 8) return undefined;
    return (hi * TWO_POW_32 + lo) / 1000;
  }
  if (nal.length < PREFIX_LENGTH + 8 || (nal[0]! & 0x1f) !== 6) return undefined;
  // Slow path: another message may come first.
  try {
    for (const message of iterateSeiMessages(nalToRbsp(nal.subarray(1)))) {
      if (message.payloadType !== USER_DATA_UNREGISTERED || message.payloadSize < PAYLOAD_SIZE) continue;
      const p = message.payload;
      let match = true;
      for (let i = 0; i < 16 && match; i++) match = p[i] === CAPTURE_TIME_SEI_UUID[i];
      if (!match) continue;
      let hi = 0;
      let lo = 0;
      for (let i = 16; i < 20; i++) hi = hi * 256 + p[i]!;
      for (let i = 20; i < 24; i++) lo = lo * 256 + p[i]!;
      return (hi * TWO_POW_32 + lo) / 1000;
    }
  } catch {
    // A malformed SEI carries no capture time.
  }
  return undefined;
}

/** Where an access unit's capture-time SEI is, what it says, and whether to believe it. */
export interface AccessUnitCaptureTime {
  /** Index of the SEI NAL unit carrying the stamp in the list passed in. */
  index: number;
  /** The stamped capture time, wall-clock ms since the Unix epoch (camera clock). */
  stampedAtMs: number;
  /** True when the stamp is within the caller's maxSkewMs of the arrival time. */
  trusted: boolean;
}

/**
 * The capture-time SEI of one access unit: scans every SEI NAL unit (ours
 * comes after the encoder's own SEI, H.264 7.4.1.2.3) and reads the first
 * stamp found. The stamp is `trusted` when it is at most `maxSkewMs` away from
 * `arrivedAtMs` (both ms since the Unix epoch): two clocks without NTP can be
 * hours apart, and each caller decides how much disagreement it accepts
 * (`Infinity` accepts any stamp). Undefined when no NAL carries a stamp.
 * Pure; runs once per frame, so a plain loop.
 */
export function captureTimeOf(
  nals: readonly { readonly type: number; readonly data: Uint8Array }[],
  arrivedAtMs: number,
  maxSkewMs: number,
): AccessUnitCaptureTime | undefined {
  for (let i = 0; i < nals.length; i++) {
    const nal = nals[i]!;
    if (nal.type !== 6) continue;
    const stampedAtMs = readCaptureTimeSei(nal.data);
    if (stampedAtMs === undefined) continue;
    return { index: i, stampedAtMs, trusted: Math.abs(stampedAtMs - arrivedAtMs) <= maxSkewMs };
  }
  return undefined;
}
