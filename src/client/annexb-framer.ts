/**
 * Turns the bytes of a raw Annex-B stream (any port-5000 camera) into
 * self-contained access units for the client library.
 *
 * Framing is the H.264 library's H264StreamParser (clauses 7.4.1.2.3/4),
 * wired through the scanner's NAL-start signal: Rearview's server sends an
 * AUD right after every frame, so a frame is handed out the moment its last
 * byte is in, not when the next frame begins.
 *
 * Each output is self-contained, with the same src/h264 parts as the
 * daemon's StreamHub: delimiters dropped (isDelimiterNalType), SPS/PPS
 * remembered per id (ParameterSetStore), and a keyframe (IDR) that arrived
 * without them gets the stored ones put in front, so any decoder can start
 * on it. Unlike the hub, in-band SPS/PPS stay where the sender put them.
 *
 * Why this is not the daemon's ByteStreamFramer (src/sources): that one runs
 * a timer (idle close, for encoder pipes that pause between frames) and
 * carries picture-less units over, then hands raw access units to the hub,
 * which owns parameter sets, timestamps and the outgoing bytes. Here the
 * peer is a camera's TCP output: frames are closed by its trailing AUD or by
 * the next frame (no timer, so no clock in the library), a cut is a reconnect
 * (reset()), and the end of a connection decides whether the pending frame
 * is complete (flush()). The library also may not import the daemon's layers.
 */
import { captureTimeOf } from '../h264/capture-time-sei.js';
import { H264StreamParser } from '../h264/h264-stream-parser.js';
import { NalUnitType, isDelimiterNalType, isVclNalType } from '../h264/nal-unit.js';
import { ParameterSetStore, parameterSetIds } from '../h264/parameter-set-store.js';
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

/** Streaming framer; see the file comment. */
export class AnnexBFramer {
  private parser: H264StreamParser;
  private readonly options: AnnexBFramerOptions;
  private readonly paramSets = new ParameterSetStore();
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
        // The store copies: parameter sets outlive the socket chunk they arrived in.
        if (nal.type === NalUnitType.SPS) this.paramSets.store('sps', parameterSetIds(nal.data).id, nal.data);
        else if (nal.type === NalUnitType.PPS) this.paramSets.store('pps', parameterSetIds(nal.data).id, nal.data);
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
    this.paramSets.clear();
    this.sawAud = false;
    this.firstNalType = undefined;
  }

  private emit(au: AccessUnit): void {
    const data: Uint8Array[] = [];
    const types: number[] = [];
    let hasVcl = false;
    for (const nal of au.nals) {
      if (isDelimiterNalType(nal.type)) continue;
      if (isVclNalType(nal.type)) hasVcl = true;
      data.push(nal.data);
      types.push(nal.type);
    }
    if (!hasVcl) return;
    const isKey = au.isKey;
    if (isKey) {
      // A bare IDR (encoder sent SPS/PPS once): make it decodable on its own with the stored
      // sets of the kind it lacks, every id, the latest-seen last (as the hub does).
      const store = this.paramSets;
      const missingSps = !types.includes(NalUnitType.SPS);
      const missingPps = !types.includes(NalUnitType.PPS);
      if (missingSps || missingPps) {
        const front = store
          .all()
          .filter((nal) => (((nal[0] ?? 0) & 0x1f) === NalUnitType.SPS ? missingSps : missingPps));
        data.unshift(...front);
        types.unshift(...front.map((nal) => (nal[0] ?? 0) & 0x1f));
      }
    }
    // SPS/PPS put in front above are never SEI, so scanning the access unit's own NALs is the same.
    const capturedAtMs = captureTimeOf(au.nals, 0, CLIENT_CAPTURE_SKEW_MS)?.stampedAtMs;
    this.count++;
    const sps = this.paramSets.latestSpsId === undefined ? undefined : this.paramSets.sps(this.paramSets.latestSpsId);
    this.options.onAccessUnit({ nals: data, types, isKey, capturedAtMs, sps, parsedSps: au.sps });
  }
}
