/**
 * Clips by wall-clock time (GET /api/v1/clip): which segments a time range
 * needs (planClip, pure), and the export itself (ClipExporter: opens and
 * checks each segment once, then hands their descriptors to the converter
 * worker, convert-clip-to-mp4.ts). Rides (recording without a gap) come
 * from the same rule (groupRides). See docs/recording.md, "Clips".
 */
import { RearviewError } from '../errors.js';
import type { ClipJob, ClipResult } from './convert-clip-to-mp4.js';
import type { ConvertPool } from './convert-pool.js';
import { sharedConvertPool } from './convert-pool.js';
import { descriptorPath, type RecordingFile } from './recording-file.js';
import type { RecordingInfo } from './recording-library.js';

/**
 * Two segments whose gap (one's end to the next one's start) is at most
 * this are one continuous recording: a cut at a keyframe leaves none, a
 * dropped GOP (disk too slow) about 1 s; a restart of the source or the
 * camera leaves more.
 */
export const JOIN_TOLERANCE_MS = 2000;

/** A range to export, with the segments it needs in time order. */
export interface ClipPlan {
  fromMs: number;
  toMs: number;
  segments: RecordingInfo[];
}

/** What planClip needs besides the list. */
export interface ClipPlanOptions {
  /** Longest clip, ms (config clipMaxMs). */
  maxMs: number;
  /** The capture clock now (the end of the segment being written), ms. */
  nowMs: number;
}

/** End of a segment's recording, ms (the segment being written: now). */
function endOf(r: RecordingInfo, nowMs: number): number {
  if (r.inProgress || r.durationMs === null) return Math.max(r.startedAtMs, nowMs);
  return r.startedAtMs + r.durationMs;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * The segments covering [fromMs, toMs), or RearviewError:
 * ERR_API_BAD_REQUEST (400) for `to` not after `from`, a range over
 * `maxMs`, or no recording in it; ERR_CLIP_GAP (409) naming the first
 * stretch of the range without recording (a gap between segments over
 * JOIN_TOLERANCE_MS, or the range starting before the recording or ending
 * after it), or a change of resolution inside the range.
 */
export function planClip(
  list: readonly RecordingInfo[],
  fromMs: number,
  toMs: number,
  options: ClipPlanOptions,
): ClipPlan {
  if (!(toMs > fromMs))
    throw new RearviewError('ERR_API_BAD_REQUEST', `"to" (${iso(toMs)}) must be after "from" (${iso(fromMs)})`);
  if (toMs - fromMs > options.maxMs)
    throw new RearviewError(
      'ERR_API_BAD_REQUEST',
      `a clip is at most ${options.maxMs / 1000} s (--clip-max); asked for ${(toMs - fromMs) / 1000} s`,
    );
  const segments = list
    .filter((r) => r.startedAtMs < toMs && endOf(r, options.nowMs) > fromMs)
    .sort((a, b) => a.startedAtMs - b.startedAtMs);
  if (segments.length === 0)
    throw new RearviewError('ERR_API_BAD_REQUEST', `no recording between ${iso(fromMs)} and ${iso(toMs)}`);
  const first = segments[0] as RecordingInfo;
  if (first.startedAtMs - fromMs > JOIN_TOLERANCE_MS)
    throw gap(fromMs, first.startedAtMs, `the recording starts at ${iso(first.startedAtMs)}`);
  for (let i = 1; i < segments.length; i++) {
    const prev = segments[i - 1] as RecordingInfo;
    const next = segments[i] as RecordingInfo;
    const end = endOf(prev, options.nowMs);
    if (next.startedAtMs - end > JOIN_TOLERANCE_MS)
      throw gap(end, next.startedAtMs, `between ${prev.name} and ${next.name}`);
    if (prev.width !== next.width || prev.height !== next.height)
      throw new RearviewError(
        'ERR_CLIP_GAP',
        `the recording changes size at ${iso(next.startedAtMs)} (${prev.width}x${prev.height} in ${prev.name}, ${next.width}x${next.height} in ${next.name}): ask for two clips`,
      );
  }
  const last = segments[segments.length - 1] as RecordingInfo;
  const lastEnd = endOf(last, options.nowMs);
  if (toMs - lastEnd > JOIN_TOLERANCE_MS)
    throw gap(lastEnd, toMs, last.inProgress ? 'not recorded yet' : `the recording ends at ${iso(lastEnd)}`);
  return { fromMs, toMs, segments };
}

function gap(fromMs: number, toMs: number, why: string): RearviewError {
  return new RearviewError(
    'ERR_CLIP_GAP',
    `no recording from ${iso(fromMs)} to ${iso(toMs)} (${((toMs - fromMs) / 1000).toFixed(1)} s; ${why}): ask for the parts before and after it`,
  );
}

/** One ride: segments recorded back to back. */
export interface Ride {
  startMs: number;
  endMs: number;
  segments: RecordingInfo[];
}

/** Groups segments into rides: consecutive in time, no gap over JOIN_TOLERANCE_MS. Oldest first. */
export function groupRides(list: readonly RecordingInfo[], nowMs: number): Ride[] {
  const sorted = [...list].sort((a, b) => a.startedAtMs - b.startedAtMs);
  const rides: Ride[] = [];
  let ride: Ride | undefined;
  for (const r of sorted) {
    const end = endOf(r, nowMs);
    if (ride && r.startedAtMs - ride.endMs <= JOIN_TOLERANCE_MS) {
      ride.segments.push(r);
      ride.endMs = Math.max(ride.endMs, end);
    } else {
      ride = { startMs: r.startedAtMs, endMs: end, segments: [r] };
      rides.push(ride);
    }
  }
  return rides;
}

/** What the exporter needs of the recordings library. */
export interface ClipLibrary {
  list(): Promise<RecordingInfo[]>;
  openSegment(nameOrPath: string): Promise<RecordingFile & { inProgress: boolean }>;
}

/** Plans and runs clip exports over one library. */
export class ClipExporter {
  constructor(
    private readonly library: ClipLibrary,
    private readonly options: {
      maxMs: () => number;
      /** The capture clock, ms. */
      now: () => number;
      pool?: () => Pick<ConvertPool, 'exportClip'>;
    },
  ) {}

  /** See planClip. */
  async plan(fromMs: number, toMs: number): Promise<ClipPlan> {
    return planClip(await this.library.list(), fromMs, toMs, {
      maxMs: this.options.maxMs(),
      nowMs: this.options.now(),
    });
  }

  /**
   * Exports `plan` as one MP4 into `write`. Each segment is opened once and
   * checked (no link, regular file); the worker reads the opened descriptor.
   * `onStart` hears the first frame's capture time before the first chunk.
   */
  async export(
    plan: ClipPlan,
    write: (chunk: Uint8Array) => Promise<void>,
    onStart?: (startMs: number) => void,
    signal?: AbortSignal,
  ): Promise<ClipResult> {
    const files: RecordingFile[] = [];
    try {
      const job: ClipJob = { fromMs: plan.fromMs, toMs: plan.toMs, segments: [] };
      for (const r of plan.segments) {
        const file = await this.library.openSegment(r.name);
        files.push(file);
        job.segments.push({
          path: descriptorPath(file.handle) ?? file.path,
          name: r.name,
          startedAtMs: r.startedAtMs,
          ...(file.inProgress ? { limitBytes: file.size } : {}),
        });
      }
      const pool = this.options.pool?.() ?? sharedConvertPool();
      return await pool.exportClip(job, write, onStart, signal);
    } finally {
      await Promise.all(files.map((f) => f.close().catch(() => undefined)));
    }
  }
}
