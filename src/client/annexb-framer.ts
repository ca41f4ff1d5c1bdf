/**
 * Turns the bytes of a raw Annex-B stream (any port-5000 camera) into
 * decodable access units for the client library.
 *
 * Frame boundaries (H.264 7.4.1.2.3, the cases a receiver can see without
 * parsing slice headers fully): an access unit ends when, after its first
 * slice, the next NAL is an AUD, SPS, PPS, SEI or type 14..18, or a slice
 * whose first_mb_in_slice is 0. The non-slice cases are caught from the
 * scanner's `onNalStart`, that is, as soon as the next start code and header
 * byte arrive: Rearview's server sends an AUD right after every frame, so a
 * frame is handed out the moment its last byte is in, not one frame later.
 *
 * Each output is self-contained: AUDs are dropped, and a keyframe (IDR) that
 * arrived without SPS/PPS gets the last ones seen put in front, so any
 * decoder can start on it.
 */
import { AnnexBScanner } from '../h264/annexb-scanner.js';
import { readCaptureTimeSei } from '../h264/capture-time-sei.js';
import { NalUnitType, isVclNalType, type NalUnit } from '../h264/nal-unit.js';
import type { H264Error } from '../errors.js';

/** One access unit as framed from the byte stream. */
export interface FramedAccessUnit {
  /** NAL units in stream order without start codes (AUDs removed; SPS/PPS added in front of a bare IDR). */
  nals: Uint8Array[];
  /** nal_unit_type of each entry of `nals`. */
  types: number[];
  /** Contains an IDR slice. */
  isKey: boolean;
  /** Capture time from Rearview's capture-time SEI, ms since the epoch, when present. */
  capturedAtMs: number | undefined;
  /** The SPS NAL in force (the latest seen), when one was seen. */
  sps: Uint8Array | undefined;
}

/** Options of {@link AnnexBFramer}. */
export interface AnnexBFramerOptions {
  /** Called for each complete access unit, synchronously from push(). */
  onAccessUnit: (au: FramedAccessUnit) => void;
  /** Recoverable stream problems (a NAL over the cap). */
  onError?: (err: H264Error) => void;
  /** Largest NAL unit in bytes. Default the scanner's (16 MiB). */
  maxNalBytes?: number;
  /** Most NAL units in one access unit before it is cut (defence against garbage). Default 1024. */
  maxNalsPerAccessUnit?: number;
}

const START_CODE = Uint8Array.of(0, 0, 0, 1);

/** Streaming framer; see the file comment. */
export class AnnexBFramer {
  private readonly scanner: AnnexBScanner;
  private readonly onAccessUnit: (au: FramedAccessUnit) => void;
  private readonly maxNals: number;
  private nals: NalUnit[] = [];
  private hasVcl = false;
  private sps: Uint8Array | undefined;
  private pps: Uint8Array | undefined;
  /** Access units emitted. */
  count = 0;

  constructor(options: AnnexBFramerOptions) {
    this.onAccessUnit = options.onAccessUnit;
    this.maxNals = options.maxNalsPerAccessUnit ?? 1024;
    this.scanner = new AnnexBScanner({
      ...(options.maxNalBytes === undefined ? {} : { maxNalBytes: options.maxNalBytes }),
      ...(options.onError ? { onError: options.onError } : {}),
      onNal: (nal) => this.nal(nal),
      onNalStart: (type) => {
        // A non-VCL NAL that can only begin a new access unit: the current one is complete now.
        if (this.hasVcl && (type === NalUnitType.AUD || type === NalUnitType.SPS || type === NalUnitType.PPS || type === NalUnitType.SEI || (type >= 14 && type <= 18))) {
          this.emit();
        }
      },
    });
  }

  /** Bytes pushed so far. */
  get bytesSeen(): number {
    return this.scanner.bytesSeen;
  }

  /** Feeds bytes; complete access units are reported synchronously. The chunk must not be modified afterwards. */
  push(chunk: Uint8Array): void {
    this.scanner.push(chunk);
  }

  /** End of stream: emits the last access unit when it has a slice. */
  flush(): void {
    this.scanner.flush();
    if (this.hasVcl) this.emit();
    this.nals = [];
  }

  /** Drops a partial access unit and the remembered parameter sets (a new connection). */
  reset(): void {
    this.nals = [];
    this.hasVcl = false;
    this.sps = undefined;
    this.pps = undefined;
  }

  private nal(nal: NalUnit): void {
    const type = nal.type;
    if (isVclNalType(type)) {
      // first_mb_in_slice is ue(v) right after the header: 0 is coded as a single '1' bit.
      const firstMbIsZero = ((nal.data[1] ?? 0) & 0x80) !== 0;
      if (this.hasVcl && firstMbIsZero) this.emit();
      this.hasVcl = true;
    } else if (type === NalUnitType.SPS) {
      this.sps = Uint8Array.from(nal.data);
    } else if (type === NalUnitType.PPS) {
      this.pps = Uint8Array.from(nal.data);
    }
    if (type === NalUnitType.AUD || type === NalUnitType.END_OF_SEQUENCE || type === NalUnitType.END_OF_STREAM || type === NalUnitType.FILLER) return;
    this.nals.push(nal);
    if (this.nals.length >= this.maxNals) this.emit();
  }

  private emit(): void {
    const nals = this.nals;
    this.nals = [];
    const hadVcl = this.hasVcl;
    this.hasVcl = false;
    if (!hadVcl) return;
    const types = nals.map((n) => n.type);
    const isKey = types.includes(NalUnitType.IDR);
    const data = nals.map((n) => n.data);
    if (isKey) {
      // A bare IDR (encoder sent SPS/PPS once): make it decodable on its own.
      if (!types.includes(NalUnitType.PPS) && this.pps) {
        data.unshift(this.pps);
        types.unshift(NalUnitType.PPS);
      }
      if (!types.includes(NalUnitType.SPS) && this.sps) {
        data.unshift(this.sps);
        types.unshift(NalUnitType.SPS);
      }
    }
    let capturedAtMs: number | undefined;
    for (let i = 0; i < data.length; i++) {
      if (types[i] === NalUnitType.SEI) {
        capturedAtMs = readCaptureTimeSei(data[i] as Uint8Array);
        if (capturedAtMs !== undefined) break;
      }
    }
    this.count++;
    this.onAccessUnit({ nals: data, types, isKey, capturedAtMs, sps: this.sps });
  }
}

/** Joins NAL units into one Annex-B buffer with 4-byte start codes (one copy). */
export function joinAnnexB(nals: readonly Uint8Array[], trailer?: Uint8Array): Uint8Array {
  let total = trailer?.length ?? 0;
  for (const n of nals) total += 4 + n.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const n of nals) {
    out.set(START_CODE, at);
    out.set(n, at + 4);
    at += 4 + n.length;
  }
  if (trailer) out.set(trailer, at);
  return out;
}
