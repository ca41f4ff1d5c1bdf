/**
 * Supplemental enhancement information: H.264 clause 7.3.2.3 (sei_rbsp,
 * sei_message) and Annex D.1 (payload syntax). Iterates the messages of a SEI
 * RBSP and builds/reads user_data_unregistered (payloadType 5, D.1.7).
 */
import { H264Error } from '../errors.js';
import { rbspToNal } from './rbsp.js';

/** SEI payloadType values used here (Annex D.1). */
export const SeiPayloadType = {
  BUFFERING_PERIOD: 0,
  PIC_TIMING: 1,
  RECOVERY_POINT: 6,
  USER_DATA_REGISTERED_ITU_T_T35: 4,
  USER_DATA_UNREGISTERED: 5,
} as const;

/** One sei_message(). `payload` is a view into the RBSP given to the iterator. */
export interface SeiMessage {
  /** payloadType (sum of the 0xFF-continued bytes). */
  payloadType: number;
  /** payloadSize in bytes (RBSP bytes, emulation prevention removed). */
  payloadSize: number;
  /** The payload bytes (RBSP). */
  payload: Uint8Array;
}

/** A user_data_unregistered payload split into its UUID and user data (views). */
export interface UserDataUnregistered {
  /** uuid_iso_iec_11578: 16 bytes. */
  uuid: Uint8Array;
  /** user_data_payload_byte: everything after the UUID. */
  data: Uint8Array;
}

/**
 * Iterates the sei_message()s of a SEI RBSP: the NAL payload after the
 * header byte with emulation-prevention bytes removed (see rbsp.ts). Stops at
 * rbsp_trailing_bits. Throws H264Error ERR_H264_TRUNCATED when a type, size
 * or payload runs past the end.
 */
export function* iterateSeiMessages(rbsp: Uint8Array): Iterable<SeiMessage> {
  const length = rbsp.length;
  let at = 0;
  while (moreRbspData(rbsp, at)) {
    let payloadType = 0;
    for (;;) {
      if (at >= length) throw new H264Error('ERR_H264_TRUNCATED', 'SEI: payloadType runs past the end');
      const b = rbsp[at++]!;
      payloadType += b;
      if (b !== 0xff) break;
    }
    let payloadSize = 0;
    for (;;) {
      if (at >= length)
        throw new H264Error('ERR_H264_TRUNCATED', `SEI: payloadSize of type ${payloadType} runs past the end`);
      const b = rbsp[at++]!;
      payloadSize += b;
      if (b !== 0xff) break;
    }
    if (at + payloadSize > length) {
      throw new H264Error(
        'ERR_H264_TRUNCATED',
        `SEI: payload of type ${payloadType} (${payloadSize} bytes) runs past the end (${length - at} left)`,
      );
    }
    yield { payloadType, payloadSize, payload: rbsp.subarray(at, at + payloadSize) };
    at += payloadSize;
  }
}

/** more_rbsp_data() at a byte boundary: something other than the stop bit and zero padding is left. */
function moreRbspData(rbsp: Uint8Array, at: number): boolean {
  if (at >= rbsp.length) return false;
  if (rbsp[at] !== 0x80) return true;
  for (let i = at + 1; i < rbsp.length; i++) if (rbsp[i] !== 0) return true;
  return false;
}

/**
 * Builds a complete SEI NAL unit (header byte 0x06, no start code) holding
 * one user_data_unregistered message: `uuid` (16 bytes) then `payload`, with
 * rbsp_trailing_bits and emulation prevention applied. Throws RangeError when
 * `uuid` is not 16 bytes.
 */
export function buildUserDataUnregisteredSei(uuid: Uint8Array, payload: Uint8Array): Uint8Array {
  if (uuid.length !== 16)
    throw new RangeError(`buildUserDataUnregisteredSei: uuid must be 16 bytes, got ${uuid.length}`);
  const size = 16 + payload.length;
  const sizeBytes = Math.floor(size / 255) + 1;
  const rbsp = new Uint8Array(1 + sizeBytes + size + 1);
  rbsp[0] = SeiPayloadType.USER_DATA_UNREGISTERED;
  let at = 1;
  for (let left = size; left >= 255; left -= 255) rbsp[at++] = 0xff;
  rbsp[at++] = size % 255;
  rbsp.set(uuid, at);
  rbsp.set(payload, at + 16);
  rbsp[at + size] = 0x80; // rbsp_stop_one_bit + alignment
  const escaped = rbspToNal(rbsp);
  const nal = new Uint8Array(1 + escaped.length);
  nal[0] = 0x06;
  nal.set(escaped, 1);
  return nal;
}

/**
 * Splits a user_data_unregistered message (payloadType 5) into its UUID and
 * data. Throws H264Error ERR_H264_INVALID for another payload type and
 * ERR_H264_TRUNCATED for a payload shorter than 16 bytes.
 */
export function readUserDataUnregistered(message: SeiMessage): UserDataUnregistered {
  if (message.payloadType !== SeiPayloadType.USER_DATA_UNREGISTERED) {
    throw new H264Error(
      'ERR_H264_INVALID',
      `SEI: payloadType ${message.payloadType} is not user_data_unregistered (5)`,
    );
  }
  if (message.payload.length < 16)
    throw new H264Error(
      'ERR_H264_TRUNCATED',
      `SEI: user_data_unregistered of ${message.payload.length} bytes has no 16-byte UUID`,
    );
  return { uuid: message.payload.subarray(0, 16), data: message.payload.subarray(16) };
}

/** Formats a 16-byte UUID as 8-4-4-4-12 lowercase hex text. */
export function uuidToText(uuid: Uint8Array): string {
  let hex = '';
  for (const b of uuid) hex += b.toString(16).padStart(2, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
