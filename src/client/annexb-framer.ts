/**
 * Turns the bytes of a raw Annex-B stream (any port-5000 camera) into
 * self-contained access units for the client library.
 *
 * Framing is the H.264 library's H264StreamParser (clauses 7.4.1.2.3/4),
 * wired through the scanner's NAL-start signal: Rearview's server sends an
 * AUD right after every frame, so a frame is handed out the moment its last
 * byte is in, not when the next frame begins.
 *
 * Each output is self-contained: AUDs (and end-of-sequence/stream, filler)
 * are dropped, and a keyframe (IDR) that arrived without SPS/PPS gets the
 * last ones seen put in front, so any decoder can start on it.
 */
import { captureTimeOf } from '../h264/capture-time-sei.js';
import { H264StreamParser } from '../h264/h264-stream-parser.js';
import { NalUnitType } from '../h264/nal-unit.js';
import type { SequenceParameterSet } from '../h264/sps.js';
import type { H264Error } from '../errors.js';
import type { AccessUnit } from '../h264/access-unit.js';

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
  /** The raw SPS NAL in force (the latest seen), when one was seen. */
  sps: Uint8Array | undefined;
  /** That SPS parsed (size, timing), when the parser knew it. */
  parsedSps: SequenceParameterSet | undefined;
}

/** Options of {@link AnnexBFramer}. */
export interface AnnexBFramerOptions {
  /** Called for each complete access unit, synchronously from push(). */
  onAccessUnit: (au: FramedAccessUnit) => void;
  /** Recoverable stream problems (a NAL over the cap, a bad parameter set). */
  onError?: (err: H264Error) => void;
  /** Largest NAL unit in bytes. Default the scanner's (16 MiB). */
  maxNalBytes?: number;
}

/**
 * The client passes the camera's capture-time stamp through unchecked
 * (Infinity ms): it has no arrival clock of its own to judge it, and
 * applications compare the camera clock with theirs (docs/client.md).
 */
const CLIENT_CAPTURE_SKEW_MS = Number.POSITIVE_INFINITY;

const DROPPED_TYPES = new Set<number>([NalUnitType.AUD, NalUnitType.END_OF_SEQUENCE, NalUnitType.END_OF_STREAM, NalUnitType.FILLER]);

/** Streaming framer; see the file comment. */
export class AnnexBFramer {
  private parser: H264StreamParser;
  private readonly options: AnnexBFramerOptions;
  private sps: Uint8Array | undefined;
  private pps: Uint8Array | undefined;
  /** The stream uses access unit delimiters. */
  private sawAud = false;
  /** nal_unit_type of the first NAL unit since the last reset. */
  private firstNalType: number | undefined;
  /** Access units emitted. */
  count = 0;

  constructor(options: AnnexBFramerOptions) {
    this.options = options;
    this.parser = this.createParser();
  }

  private createParser(): H264StreamParser {
    return new H264StreamParser({
      ...(this.options.maxNalBytes === undefined ? {} : { maxNalBytes: this.options.maxNalBytes }),
      ...(this.options.onError ? { onError: this.options.onError } : {}),
      onNal: (nal) => {
        this.firstNalType ??= nal.type;
        if (nal.type === NalUnitType.AUD) this.sawAud = true;
        // Copies: parameter sets outlive the socket chunk they arrived in.
        if (nal.type === NalUnitType.SPS) this.sps = Uint8Array.from(nal.data);
        else if (nal.type === NalUnitType.PPS) this.pps = Uint8Array.from(nal.data);
      },
      onAccessUnit: (au) => this.emit(au),
    });
  }

  /** True once a start code was seen since the last reset. */
  get foundStartCode(): boolean {
    return this.parser.foundStartCode;
  }

  /** Bytes pushed since the last reset. */
  get bytesSeen(): number {
    return this.parser.bytesSeen;
  }

  /** Feeds bytes; complete access units are reported synchronously. The chunk must not be modified afterwards. */
  push(chunk: Uint8Array): void {
    this.parser.push(chunk);
  }

  /**
   * End of stream: emits the last access unit, unless the stream ends its
   * frames with AUDs (Rearview sends one after every frame: AUDs appear but
   * the stream did not start with one): then every complete frame was
   * already emitted and what is pending is a frame cut short. Streams with
   * leading AUDs (x264 `aud=1`) or none end their last frame only here.
   */
  flush(): void {
    const trailingAuds = this.sawAud && this.firstNalType !== NalUnitType.AUD;
    if (trailingAuds) this.parser = this.createParser();
    else this.parser.flush();
  }

  /** Forgets a partial access unit and the remembered parameter sets (a new connection). */
  reset(): void {
    this.parser = this.createParser();
    this.sps = undefined;
    this.pps = undefined;
    this.sawAud = false;
    this.firstNalType = undefined;
  }

  private emit(au: AccessUnit): void {
    const data: Uint8Array[] = [];
    const types: number[] = [];
    let hasVcl = false;
    for (const nal of au.nals) {
      if (DROPPED_TYPES.has(nal.type)) continue;
      if (nal.type >= 1 && nal.type <= 5) hasVcl = true;
      data.push(nal.data);
      types.push(nal.type);
    }
    if (!hasVcl) return;
    const isKey = au.isKey;
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
    // SPS/PPS put in front above are never SEI, so scanning the access unit's own NALs is the same.
    const capturedAtMs = captureTimeOf(au.nals, 0, CLIENT_CAPTURE_SKEW_MS)?.stampedAtMs;
    this.count++;
    this.options.onAccessUnit({ nals: data, types, isKey, capturedAtMs, sps: this.sps, parsedSps: au.sps });
  }
}

const START_CODE = Uint8Array.of(0, 0, 0, 1);

/**
 * Joins NAL units into one Annex-B buffer with 4-byte start codes (one copy)
 * and returns it with a view of each NAL unit inside it.
 */
export function joinAnnexB(nals: readonly Uint8Array[]): { data: Uint8Array; views: Uint8Array[] } {
  let total = 0;
  for (const n of nals) total += 4 + n.length;
  const data = new Uint8Array(total);
  const views: Uint8Array[] = [];
  let at = 0;
  for (const n of nals) {
    data.set(START_CODE, at);
    data.set(n, at + 4);
    views.push(data.subarray(at + 4, at + 4 + n.length));
    at += 4 + n.length;
  }
  return { data, views };
}
