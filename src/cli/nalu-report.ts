/**
 * What `rearview nalu` prints: the seed-compatible NAL line, the --json NAL
 * object, the --frames line/object, and the --summary object (the shape is
 * fixed by docs/cli.md; scripts depend on it). Pure functions and a
 * statistics accumulator, no I/O, so they are unit-testable.
 */
import type { AccessUnit } from '../h264/access-unit.js';
import { codecString } from '../h264/codec-string.js';
import { readCaptureTimeSei } from '../h264/capture-time-sei.js';
import { nalTypeName, type NalUnit } from '../h264/nal-unit.js';
import type { PictureParameterSet } from '../h264/pps.js';
import { nalToRbsp } from '../h264/rbsp.js';
import { iterateSeiMessages, readUserDataUnregistered, SeiPayloadType, uuidToText } from '../h264/sei.js';
import type { SliceHeader } from '../h264/slice-header.js';
import { levelName, parseSps, profileName, type SequenceParameterSet } from '../h264/sps.js';

/**
 * The tutorial tool's line for one NAL unit. Length is the NAL unit plus its
 * start code (the seed's convention); names are the seed's, including
 * "Unknown (n)" for the types it did not name (docs/cli.md says why).
 */
export function seedLine(nal: NalUnit): string {
  return `Found NALU, Type: ${nalTypeName(nal.type, true)}, Length: ${nal.data.length + nal.startCodeLength} bytes`;
}

/** One parsed SEI message as shown by --json. */
export interface SeiMessageInfo {
  payloadType: number;
  payloadSize: number;
  /** user_data_unregistered: the UUID as text. */
  uuid?: string;
  /** Rearview's capture-time SEI: capture wall-clock time, ms since the Unix epoch. */
  capturedAtMs?: number;
}

/** Parses the messages of a SEI NAL unit for display; a malformed tail is reported as `error`. */
export function describeSei(nal: Uint8Array): { messages: SeiMessageInfo[]; error?: string } {
  const messages: SeiMessageInfo[] = [];
  try {
    for (const message of iterateSeiMessages(nalToRbsp(nal.subarray(1)))) {
      const info: SeiMessageInfo = { payloadType: message.payloadType, payloadSize: message.payloadSize };
      if (message.payloadType === SeiPayloadType.USER_DATA_UNREGISTERED && message.payloadSize >= 16) {
        info.uuid = uuidToText(readUserDataUnregistered(message).uuid);
      }
      messages.push(info);
    }
  } catch (err) {
    return { messages, error: err instanceof Error ? err.message : String(err) };
  }
  const capturedAtMs = readCaptureTimeSei(nal);
  if (capturedAtMs !== undefined) {
    const target = messages.find((m) => m.payloadType === SeiPayloadType.USER_DATA_UNREGISTERED);
    if (target) target.capturedAtMs = capturedAtMs;
  }
  return { messages };
}

/** Parsed content attached to a --json NAL object. */
export interface NalDetails {
  sps?: SequenceParameterSet;
  pps?: PictureParameterSet;
  slice?: SliceHeader;
  sei?: SeiMessageInfo[];
  /** Why the NAL's content could not be parsed. */
  error?: string;
}

/** The --json object of one NAL unit. `size` is the NAL unit without its start code. */
export function nalJson(nal: NalUnit, details: NalDetails): string {
  const object: Record<string, unknown> = {
    offset: nal.offset,
    startCodeLength: nal.startCodeLength,
    size: nal.data.length,
    type: nal.type,
    typeName: nalTypeName(nal.type),
    refIdc: nal.refIdc,
  };
  if (details.sps) object.sps = details.sps;
  if (details.pps) object.pps = details.pps;
  if (details.slice) {
    if (details.slice.tailError) {
      const { tailError, ...slice } = details.slice;
      object.slice = { ...slice, tailError: tailError.message };
    } else {
      // The header itself: a rest copy is a slow dictionary-mode object, and JSON leaves out an absent tailError.
      object.slice = details.slice;
    }
  }
  if (details.sei) object.sei = details.sei;
  if (details.error) object.error = details.error;
  // Slices and SEI hold only numbers, booleans, strings and plain arrays: a replacer, called for
  // every value, would cost more than the rest of the line.
  return details.sps || details.pps ? JSON.stringify(object, jsonReplacer) : JSON.stringify(object);
}

/** Typed arrays (scaling lists) as plain arrays; errors as their message. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView))
    return Array.from(value as unknown as ArrayLike<number>);
  if (value instanceof Error) return value.message;
  return value;
}

const SLICE_LETTERS = ['P', 'B', 'I', 'SP', 'SI'];

/** Slice type letter for slice_type % 5. */
export function sliceLetter(kind: number): string {
  return SLICE_LETTERS[kind % 5] ?? String(kind);
}

/** Timing of one access unit for --frames (live sources only). */
export interface FrameTiming {
  /** ms since the first byte arrived (monotonic clock) when the access unit's last byte arrived. */
  arrivalMs: number;
  /** Wall-clock ms since the Unix epoch of that arrival. */
  arrivedAtMs: number;
}

/** Capture time of an access unit from Rearview's capture-time SEI, if it carries one. */
export function accessUnitCaptureTime(au: AccessUnit): number | undefined {
  for (const nal of au.nals) {
    if (nal.type === 6) {
      const t = readCaptureTimeSei(nal.data);
      if (t !== undefined) return t;
    }
  }
  return undefined;
}

/** The --frames text line of one access unit. */
export function frameLine(index: number, au: AccessUnit, timing: FrameTiming | undefined): string {
  let line = `Frame ${index}: ${au.isKey ? 'key' : 'non-key'}, slices ${au.sliceTypes.map(sliceLetter).join(',') || '-'}, ${au.byteLength} bytes, NAL types ${au.nals.map((n) => n.type).join(',')}, POC ${au.poc ?? '?'}`;
  if (au.structure !== 'frame') line += `, ${au.structure} field`;
  if (timing) line += `, arrived ${timing.arrivalMs.toFixed(1)} ms`;
  const capturedAtMs = accessUnitCaptureTime(au);
  if (capturedAtMs !== undefined && timing) line += `, latency ${(timing.arrivedAtMs - capturedAtMs).toFixed(1)} ms`;
  return line;
}

/** The --frames --json object of one access unit. */
export function frameJson(index: number, au: AccessUnit, timing: FrameTiming | undefined): string {
  const object: Record<string, unknown> = {
    index,
    offset: au.offset,
    key: au.isKey,
    sliceTypes: au.sliceTypes.map(sliceLetter),
    size: au.byteLength,
    nalTypes: au.nals.map((n) => n.type),
    poc: au.poc,
    structure: au.structure,
  };
  if (timing) {
    object.arrivalMs = round3(timing.arrivalMs);
    object.arrivedAtMs = round3(timing.arrivedAtMs);
  }
  const capturedAtMs = accessUnitCaptureTime(au);
  if (capturedAtMs !== undefined) {
    object.capturedAtMs = capturedAtMs;
    if (timing) object.latencyMs = round3(timing.arrivedAtMs - capturedAtMs);
  }
  return JSON.stringify(object);
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** The `sps` member of the summary: the first SPS's fields as parsed, plus the profile and level names. */
export type SummarySps = Pick<
  SequenceParameterSet,
  | 'profileIdc'
  | 'constraintFlags'
  | 'levelIdc'
  | 'chromaFormatIdc'
  | 'bitDepthLuma'
  | 'bitDepthChroma'
  | 'width'
  | 'height'
  | 'codedWidth'
  | 'codedHeight'
  | 'frameMbsOnly'
  | 'sar'
  | 'fps'
> & { profile: string; level: string };

/** The --summary object (docs/cli.md). */
export interface NaluSummary {
  /** Bytes read from the source. */
  bytes: number;
  nalUnits: number;
  /** NAL unit count per nal_unit_type (keys are the type numbers). */
  nalCounts: Record<string, number>;
  accessUnits: number;
  /** Access units whose primary picture is an IDR picture. */
  keyframes: number;
  /** The first SPS of the stream, null when there was none (or it could not be parsed). */
  sps: SummarySps | null;
  /** RFC 6381 codec string of the first SPS. */
  codec: string | null;
  /** Access units from one keyframe to the next; null with fewer than two keyframes. */
  gop: { min: number; max: number; mean: number } | null;
  /** From arrival times of a live source; null for files or fewer than two access units. */
  measured: { fps: number; bitrateBps: number } | null;
  /** Recoverable stream errors seen (malformed parameter sets or slice headers, ...). */
  errors: number;
}

/** Accumulates what the summary reports, one NAL unit and access unit at a time. */
export class NaluStats {
  bytes = 0;
  nalUnits = 0;
  accessUnits = 0;
  keyframes = 0;
  errors = 0;
  private readonly nalCounts = new Map<number, number>();
  private firstSps: SummarySps | null = null;
  private codec: string | null = null;
  private spsTried = false;
  private lastKeyIndex = -1;
  private gapMin = Infinity;
  private gapMax = 0;
  private gapSum = 0;
  private gaps = 0;
  private firstArrivalMs: number | undefined;
  private lastArrivalMs: number | undefined;
  private timedAccessUnits = 0;
  private timedBytes = 0;

  /** Counts one NAL unit (and reads the first SPS). */
  addNal(nal: NalUnit): void {
    this.nalUnits++;
    this.nalCounts.set(nal.type, (this.nalCounts.get(nal.type) ?? 0) + 1);
    if (nal.type === 7 && !this.spsTried) {
      this.spsTried = true;
      try {
        this.firstSps = summarySps(parseSps(nal.data));
        this.codec = codecString(nal.data);
      } catch {
        this.errors++;
        this.spsTried = false; // try the next SPS
      }
    }
  }

  /** Counts one access unit; `arrivalMs` (monotonic) only for live sources. */
  addAccessUnit(au: AccessUnit, arrivalMs: number | undefined): void {
    const index = this.accessUnits++;
    if (au.isKey) {
      this.keyframes++;
      if (this.lastKeyIndex >= 0) {
        const gap = index - this.lastKeyIndex;
        this.gapMin = Math.min(this.gapMin, gap);
        this.gapMax = Math.max(this.gapMax, gap);
        this.gapSum += gap;
        this.gaps++;
      }
      this.lastKeyIndex = index;
    }
    if (arrivalMs !== undefined) {
      this.firstArrivalMs ??= arrivalMs;
      // Bytes after the first access unit arrived, over the time they took.
      if (this.timedAccessUnits > 0) this.timedBytes += au.byteLength;
      this.lastArrivalMs = arrivalMs;
      this.timedAccessUnits++;
    }
  }

  /** The summary object. */
  summary(): NaluSummary {
    const nalCounts: Record<string, number> = {};
    for (const [type, count] of [...this.nalCounts].sort((a, b) => a[0] - b[0])) nalCounts[String(type)] = count;
    const spanMs =
      this.firstArrivalMs !== undefined && this.lastArrivalMs !== undefined
        ? this.lastArrivalMs - this.firstArrivalMs
        : 0;
    return {
      bytes: this.bytes,
      nalUnits: this.nalUnits,
      nalCounts,
      accessUnits: this.accessUnits,
      keyframes: this.keyframes,
      sps: this.firstSps,
      codec: this.codec,
      gop:
        this.gaps > 0
          ? { min: this.gapMin, max: this.gapMax, mean: Math.round((this.gapSum / this.gaps) * 100) / 100 }
          : null,
      measured:
        this.timedAccessUnits >= 2 && spanMs > 0
          ? {
              fps: Math.round(((this.timedAccessUnits - 1) * 1000 * 100) / spanMs) / 100,
              bitrateBps: Math.round((this.timedBytes * 8 * 1000) / spanMs),
            }
          : null,
      errors: this.errors,
    };
  }
}

/** The summary's view of a parsed SPS. */
export function summarySps(sps: SequenceParameterSet): SummarySps {
  return {
    profileIdc: sps.profileIdc,
    profile: profileName(sps.profileIdc, sps.constraintFlags),
    constraintFlags: sps.constraintFlags,
    levelIdc: sps.levelIdc,
    level: levelName(sps.levelIdc, sps.constraintFlags, sps.profileIdc),
    chromaFormatIdc: sps.chromaFormatIdc,
    bitDepthLuma: sps.bitDepthLuma,
    bitDepthChroma: sps.bitDepthChroma,
    width: sps.width,
    height: sps.height,
    codedWidth: sps.codedWidth,
    codedHeight: sps.codedHeight,
    frameMbsOnly: sps.frameMbsOnly,
    sar: sps.sar,
    fps: sps.fps,
  };
}

/** Human-readable summary (without --json). */
export function summaryText(s: NaluSummary): string[] {
  const lines = [
    `Bytes: ${s.bytes}`,
    `NAL units: ${s.nalUnits} (${Object.entries(s.nalCounts)
      .map(([t, n]) => `${t}: ${n}`)
      .join(', ')})`,
    `Access units: ${s.accessUnits}, keyframes: ${s.keyframes}`,
  ];
  if (s.sps) {
    const p = s.sps;
    lines.push(
      `SPS: ${p.profile} (profile_idc ${p.profileIdc}) level ${p.level}, ${p.width}x${p.height} (coded ${p.codedWidth}x${p.codedHeight}), chroma_format_idc ${p.chromaFormatIdc}, ${p.bitDepthLuma}-bit, ${p.frameMbsOnly ? 'frames only' : 'fields/MBAFF possible'}, SAR ${p.sar ? p.sar.join(':') : 'unspecified'}, fps ${p.fps ?? 'unknown'}`,
    );
  } else {
    lines.push('SPS: none');
  }
  lines.push(`Codec: ${s.codec ?? 'unknown'}`);
  lines.push(
    `GOP: ${s.gop ? `min ${s.gop.min}, max ${s.gop.max}, mean ${s.gop.mean} access units` : 'unknown (fewer than two keyframes)'}`,
  );
  if (s.measured) lines.push(`Measured: ${s.measured.fps} fps, ${(s.measured.bitrateBps / 1e6).toFixed(3)} Mbit/s`);
  if (s.errors > 0) lines.push(`Stream errors: ${s.errors}`);
  return lines;
}
