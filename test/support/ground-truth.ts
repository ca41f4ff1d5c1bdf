/**
 * Expected values for the external H.264 corpus, read from its
 * GROUND_TRUTH.json (ffprobe/ffmpeg trace_headers output plus an independent
 * NAL census; nobody on this project wrote either).
 *
 * `expectedSummary(file)` gives, per file, what a correct parser must report:
 * the first SPS's sizes, profile, level, chroma format and bit depths, the
 * NAL census, and the access-unit count: FFmpeg's `nb_read_packets` where
 * FFmpeg parses the file correctly, else the value named in
 * `ACCESS_UNIT_EXCEPTIONS` with its reason.
 */
import { readFileSync } from 'node:fs';
import { corpusFile } from './paths.js';

/** One SPS as decoded by FFmpeg's trace_headers: snake_case syntax element names (`seq_scaling_list[0].delta_scale[3]`, `cbr_flag[0]`). */
export type RawParameterSet = Record<string, number>;

/** One corpus file's entry in GROUND_TRUTH.json (the parts the tests use). */
export interface GroundTruthEntry {
  bytes: number;
  features: string;
  ffprobe: {
    profile?: string;
    level?: number;
    width?: number;
    height?: number;
    coded_width?: number;
    coded_height?: number;
    pix_fmt?: string;
    sample_aspect_ratio?: string;
    nb_read_frames?: number;
    nb_read_packets?: number;
  };
  nal_scan: {
    nal_count: number;
    nal_types: Record<string, number>;
    nal_ref_idc_nonzero_by_type: Record<string, number>;
    start_code_lengths: Record<string, number>;
    first_start_code_offset: number | null;
    first_mb_zero_slices: number;
    sei_payload_types: Record<string, number>;
  };
  sps_derived: Array<Record<string, unknown>>;
  pps_summary: RawParameterSet[];
  /** Unique SPSs in stream order (identical re-sends appear once). */
  sps_raw: RawParameterSet[];
}

/** What `rearview nalu FILE --summary --json` and the library must report for a corpus file. */
export interface ExpectedSummary {
  /** File size in bytes. */
  bytes: number;
  /** Total NAL units and counts per nal_unit_type (keys are the type as a decimal string). */
  nalUnits: number;
  nalCounts: Record<string, number>;
  /** Access units (see accessUnitsSource). */
  accessUnits: number;
  /** Where `accessUnits` comes from: FFmpeg's packet count, or the named exception. */
  accessUnitsSource: 'ffprobe nb_read_packets' | 'exception';
  /** The reason when `accessUnitsSource` is 'exception'. */
  accessUnitsReason?: string;
  /** First SPS of the stream. */
  sps: {
    profileIdc: number;
    /** FFmpeg's profile name; null where ffprobe could not open the file. */
    profile: string | null;
    constraintFlags: number;
    levelIdc: number;
    /** Level as "3.1" / "4.0" / "1b". */
    level: string;
    chromaFormatIdc: number;
    bitDepthLuma: number;
    bitDepthChroma: number;
    width: number;
    height: number;
    codedWidth: number;
    codedHeight: number;
    frameMbsOnly: boolean;
    sar: [number, number] | null;
    fps: number | null;
  };
  /** RFC 6381 codec string of the first SPS, "avc1.PPCCLL" (lower-case hex). */
  codec: string;
}

/**
 * Files where FFmpeg's packet count is not the access-unit count, with the
 * count the H.264 clauses give and why.
 */
export const ACCESS_UNIT_EXCEPTIONS: Readonly<Record<string, { accessUnits: number; reason: string }>> = {
  'FM1_FT_E.264': {
    accessUnits: 300,
    reason:
      "arbitrary slice order (ASO) with FMO: FFmpeg's parser starts a new packet whenever first_mb_in_slice goes backwards " +
      '(305 packets); by 7.4.1.2.4 the stream has 300 primary pictures (= the census of slices with first_mb_in_slice == 0, no redundant pictures)',
  },
  'sps_subsetsps_bothVUI.264': {
    accessUnits: 1,
    reason:
      'SVC stream without a base-layer slice: ffprobe cannot open it (width 0, no profile); its 5 NAL units ' +
      '(SPS, subset SPS, 2 PPS, one type-20 slice) form one access unit',
  },
};

/**
 * Files where ffprobe's stream-level size is not the first SPS's (the test
 * then checks the first SPS as decoded by trace_headers).
 */
export const SIZE_EXCEPTIONS: Readonly<Record<string, string>> = {
  'input-sps-pps-non-idr-sps-pps-idr.h264':
    'mid-stream resolution change: ffprobe reports width/height of the first SPS (400x400) but coded size of the second (32x32)',
  'sps_subsetsps_bothVUI.264': 'ffprobe cannot open the file (no base layer) and reports 0x0',
};

let cache: Record<string, GroundTruthEntry> | undefined;

function load(): Record<string, GroundTruthEntry> {
  if (!cache) {
    const json = JSON.parse(readFileSync(corpusFile('GROUND_TRUTH.json'), 'utf8')) as Record<string, unknown>;
    delete json._about;
    cache = json as Record<string, GroundTruthEntry>;
  }
  return cache;
}

/** Names of all corpus files described by GROUND_TRUTH.json, in its order. */
export function corpusFileNames(): string[] {
  return Object.keys(load());
}

/** The raw GROUND_TRUTH.json entry of a corpus file. */
export function groundTruth(file: string): GroundTruthEntry {
  const entry = load()[file];
  if (!entry) throw new Error(`no ground truth for ${file}`);
  return entry;
}

/**
 * Level name as "1b", "3.1", "4.0" from level_idc and the constraint flags (Table A-1).
 * Written here on purpose rather than imported from src/h264: this file is the oracle.
 */
function levelString(levelIdc: number, profileIdc: number, cs3: number): string {
  if (levelIdc === 9 || (levelIdc === 11 && cs3 === 1 && [66, 77, 88].includes(profileIdc))) return '1b';
  return (levelIdc / 10).toFixed(1);
}

/** Expected summary of a corpus file (see ExpectedSummary). */
export function expectedSummary(file: string): ExpectedSummary {
  const gt = groundTruth(file);
  const d = gt.sps_derived[0];
  const raw = gt.sps_raw[0];
  if (!d || !raw) throw new Error(`${file}: ground truth has no SPS`);
  const num = (k: string): number => {
    const v = d[k];
    if (typeof v !== 'number') throw new Error(`${file}: sps_derived.${k} missing`);
    return v;
  };
  let constraintFlags = 0;
  for (let k = 0; k < 6; k++) constraintFlags |= (raw[`constraint_set${k}_flag`] ?? 0) << (7 - k);
  constraintFlags |= raw.reserved_zero_2bits ?? 0;
  const profileIdc = num('profile_idc');
  const levelIdc = num('level_idc');
  let sar: [number, number] | null = null;
  const derivedSar = d.sar;
  if (Array.isArray(derivedSar)) sar = [Number(derivedSar[0]), Number(derivedSar[1])];
  else if (gt.ffprobe.sample_aspect_ratio) {
    const [n, m] = gt.ffprobe.sample_aspect_ratio.split(':').map(Number);
    if (n && m) sar = [n, m];
  }
  const fpsValue = d.fps_time_scale_over_2_num_units_in_tick;
  const exception = ACCESS_UNIT_EXCEPTIONS[file];
  const packets = gt.ffprobe.nb_read_packets;
  if (!exception && packets === undefined) throw new Error(`${file}: no nb_read_packets and no named exception`);
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return {
    bytes: gt.bytes,
    nalUnits: gt.nal_scan.nal_count,
    nalCounts: { ...gt.nal_scan.nal_types },
    accessUnits: exception ? exception.accessUnits : (packets as number),
    accessUnitsSource: exception ? 'exception' : 'ffprobe nb_read_packets',
    ...(exception ? { accessUnitsReason: exception.reason } : {}),
    sps: {
      profileIdc,
      profile: gt.ffprobe.profile ?? null,
      constraintFlags,
      levelIdc,
      level: levelString(levelIdc, profileIdc, raw.constraint_set3_flag ?? 0),
      chromaFormatIdc: num('chroma_format_idc'),
      bitDepthLuma: num('bit_depth_luma'),
      bitDepthChroma: (raw.bit_depth_chroma_minus8 ?? 0) + 8,
      width: num('width'),
      height: num('height'),
      codedWidth: num('coded_width'),
      codedHeight: num('coded_height'),
      frameMbsOnly: num('frame_mbs_only_flag') === 1,
      sar,
      fps: typeof fpsValue === 'number' ? fpsValue : null,
    },
    codec: `avc1.${hex(profileIdc)}${hex(constraintFlags)}${hex(levelIdc)}`,
  };
}
