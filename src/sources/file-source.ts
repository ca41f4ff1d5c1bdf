/**
 * Plays a file as a live camera: `file:PATH`, and `sample`, the bundled
 * camera-like clip. The file is an H.264 Annex-B stream, or an MP4 or
 * Matroska/WebM file with an H.264 track (our own recordings too), told
 * apart by its first bytes; anything else is refused at start. The file is
 * parsed once into access units, then played in real time in an endless loop.
 *
 * Pacing is drift-free: frame n is due at start + n x interval on a
 * monotonic clock (never "previous + interval", which accumulates timer
 * lateness), and the count keeps running across the wrap so the cadence is
 * exact where the file loops. For Annex-B the frame rate comes from the SPS
 * VUI timing, else from `config.fileFps`; a container's samples keep their
 * own durations (from its timestamps). Playback starts at the first IDR picture and
 * every loop returns to it, so a loop is a clean continuation (an IDR with
 * its SPS/PPS) and no discontinuity is signalled. Field pictures (each its
 * own access unit) take half a frame interval each.
 */
import { readFile } from 'node:fs/promises';
import type { AccessUnit } from '../h264/access-unit.js';
import { readCaptureTimeSei } from '../h264/capture-time-sei.js';
import { H264StreamParser, parseAnnexB } from '../h264/h264-stream-parser.js';
import { demuxH264Container, detectMediaFileKind, type DemuxedH264Track } from './demux-h264-container.js';
import { SourceError, type RearviewError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { CaptureSource, SourceSink } from './capture-source.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';

/** The bundled sample clip, located from this module (not the working directory). */
export const SAMPLE_ASSET_URL = new URL('../../../assets/sample-640x360.h264', import.meta.url);

/** The sample's recording profile: the same scene at 1280x720 (scripts/make-sample.sh). */
export const SAMPLE_RECORDING_ASSET_URL = new URL('../../../assets/sample-1280x720.h264', import.meta.url);

/** When playback falls this far behind (a blocked event loop), it re-anchors instead of bursting. Default 1000 ms. */
export const DEFAULT_MAX_LATE_MS = 1000;

/** Options of {@link FileSource}. */
export interface FileSourceOptions {
  /** Short name for logs and status. Default `file:PATH`. */
  name?: string;
  logger: Logger;
  /** Frame rate when the SPS has no VUI timing. Default 30. */
  fallbackFps?: number;
  /** See DEFAULT_MAX_LATE_MS. */
  maxLateMs?: number;
  clock?: Clock;
}

/** What a parsed file plays: its access units from the first IDR, and their durations. */
export interface FilePlaylist {
  accessUnits: AccessUnit[];
  /** How long each access unit is shown, in ticks of `tickMs` (integers, so the schedule never drifts). */
  durationTicks: number[];
  /** Length of one tick in ms: half a frame interval for Annex-B, 1 µs for a container. */
  tickMs: number;
  /** Frames per second (for a container: on average). */
  fps: number;
  /** Where the timing came from: SPS 'vui' timing, the 'fallback' rate, or the container's 'timestamps'. */
  fpsFrom: 'vui' | 'fallback' | 'timestamps';
  /** Access units before the first IDR that are never played. */
  skippedBeforeIdr: number;
  /** What the file was. */
  format: 'annexb' | 'mp4' | 'matroska';
}

/**
 * Parses a whole Annex-B file into what FileSource plays. Throws SourceError
 * ERR_H264_NO_START_CODE when it is not H.264 Annex-B, ERR_H264_INVALID
 * when it has no IDR picture.
 */
export function buildPlaylist(bytes: Uint8Array, what: string, fallbackFps: number): FilePlaylist {
  const parsed = parseAnnexB(bytes);
  if (parsed.nals.length === 0) {
    throw new SourceError('ERR_H264_NO_START_CODE', `${what} is not an H.264 Annex-B stream (no start code found)`);
  }
  const firstKey = parsed.accessUnits.findIndex((au) => au.isKey);
  if (firstKey < 0) {
    throw new SourceError(
      'ERR_H264_INVALID',
      `${what} has no IDR picture (${parsed.accessUnits.length} access units): playback could never start a decoder`,
    );
  }
  const accessUnits = parsed.accessUnits.slice(firstKey).map(withoutCaptureTimeSei);
  const vuiFps = accessUnits.find((au) => au.sps)?.sps?.fps ?? null;
  const usable = vuiFps !== null && Number.isFinite(vuiFps) && vuiFps > 0 && vuiFps <= 1000;
  const fps = usable ? vuiFps : fallbackFps;
  return {
    accessUnits,
    // A frame is two half-frame ticks, a field picture one.
    durationTicks: accessUnits.map((au) => (au.structure === 'frame' ? 2 : 1)),
    tickMs: 500 / fps,
    fps,
    fpsFrom: usable ? 'vui' : 'fallback',
    skippedBeforeIdr: firstKey,
    format: 'annexb',
  };
}

/**
 * What FileSource plays from a demuxed container track: each sample parsed
 * into its access unit (the parser keeps parameter sets across samples),
 * from the first IDR, each with its own duration. Throws SourceError
 * ERR_H264_INVALID when no sample is an IDR picture.
 */
export function buildContainerPlaylist(
  track: DemuxedH264Track,
  what: string,
  format: 'mp4' | 'matroska',
): FilePlaylist {
  const accessUnits: AccessUnit[] = [];
  const durationTicks: number[] = [];
  let produced: AccessUnit[] = [];
  const parser = new H264StreamParser({ onAccessUnit: (au) => produced.push(au) });
  for (const sample of track.accessUnits) {
    produced = [];
    parser.push(sample.annexB);
    parser.flush(); // a sample is a whole access unit: close it now
    // A sample holding two field pictures yields two access units: they share its duration.
    const n = produced.length;
    for (let i = 0; i < n; i++) {
      accessUnits.push(produced[i] as AccessUnit);
      durationTicks.push(Math.max(1, Math.round(sample.durationUs / n)));
    }
  }
  const firstKey = accessUnits.findIndex((au) => au.isKey);
  if (firstKey < 0) {
    throw new SourceError(
      'ERR_H264_INVALID',
      `${what} has no IDR picture (${accessUnits.length} access units): playback could never start a decoder`,
    );
  }
  const played = accessUnits.slice(firstKey).map(withoutCaptureTimeSei);
  const ticks = durationTicks.slice(firstKey);
  const totalUs = ticks.reduce((a, b) => a + b, 0);
  return {
    accessUnits: played,
    durationTicks: ticks,
    tickMs: 0.001,
    fps: Math.round((played.length * 1e8) / totalUs) / 100,
    fpsFrom: 'timestamps',
    skippedBeforeIdr: firstKey,
    format,
  };
}

/**
 * Parses a whole file (Annex-B, MP4 or Matroska, told by its first bytes) into
 * what FileSource plays. Anything else is refused with SourceError
 * ERR_H264_NO_START_CODE naming the accepted forms.
 */
export async function buildFilePlaylist(bytes: Uint8Array, what: string, fallbackFps: number): Promise<FilePlaylist> {
  const kind = detectMediaFileKind(bytes.subarray(0, 64));
  if (kind === 'annexb') return buildPlaylist(bytes, what, fallbackFps);
  if (kind === 'mp4' || kind === 'matroska') {
    return buildContainerPlaylist(await demuxH264Container(bytes, what, fallbackFps), what, kind);
  }
  throw new SourceError(
    'ERR_H264_NO_START_CODE',
    `${what} is not an H.264 Annex-B stream, MP4 or Matroska file (it begins with neither a start code nor a container header)`,
  );
}

/**
 * The access unit without capture-time SEIs: a file recorded from a camera
 * (our own recordings) carries the time it was filmed, which clients would
 * read as this playback's capture time; the hub stamps each unit anew.
 */
function withoutCaptureTimeSei(au: AccessUnit): AccessUnit {
  if (!au.nals.some((nal) => nal.type === 6 && readCaptureTimeSei(nal.data) !== undefined)) return au;
  return { ...au, nals: au.nals.filter((nal) => !(nal.type === 6 && readCaptureTimeSei(nal.data) !== undefined)) };
}

/** A file played in a real-time loop; see the file comment. */
export class FileSource implements CaptureSource {
  readonly name: string;
  /** The file played. */
  readonly path: string;
  private readonly options: FileSourceOptions;
  private readonly clock: Clock;
  private playlist: FilePlaylist | undefined;
  private sink: SourceSink | undefined;
  private timer: TimerHandle | undefined;
  private closed = false;
  /** Monotonic time of tick 0. */
  private startMono = 0;
  /** Playlist ticks since start (see FilePlaylist.durationTicks): an integer, so the schedule never drifts. */
  private ticks = 0;
  private tickMs = 0;
  private index = 0;
  /** Access units emitted since start (across loops). */
  emitted = 0;
  /** Completed passes through the file. */
  loops = 0;

  constructor(path: string, options: FileSourceOptions) {
    this.path = path;
    this.options = options;
    this.name = options.name ?? `file:${path}`;
    this.clock = options.clock ?? systemClock;
  }

  /** Frames per second being played (after start). */
  get fps(): number | undefined {
    return this.playlist?.fps;
  }

  /** Reads and parses the file, then starts playing. Rejects with a SourceError when it cannot be played. */
  async start(sink: SourceSink): Promise<void> {
    if (this.sink) throw new Error(`${this.name}: start() called twice`);
    this.sink = sink;
    let bytes: Uint8Array;
    try {
      bytes = await readFile(this.path);
    } catch (err) {
      throw new SourceError('ERR_NOT_FOUND', `cannot read ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    const playlist = await buildFilePlaylist(bytes, this.path, this.options.fallbackFps ?? 30);
    this.playlist = playlist;
    if (this.closed) return;
    const { logger } = this.options;
    const timing = {
      vui: 'SPS VUI timing',
      fallback: 'no VUI timing: configured rate',
      timestamps: 'container timestamps',
    }[playlist.fpsFrom];
    const what = playlist.format === 'annexb' ? '' : ` from ${playlist.format === 'mp4' ? 'MP4' : 'Matroska'}`;
    logger.info(
      `playing ${playlist.accessUnits.length} access units${what} at ${playlist.fps} fps (${timing}), looped`,
    );
    if (playlist.skippedBeforeIdr > 0)
      logger.info(`skipping ${playlist.skippedBeforeIdr} access units before the first IDR`);
    this.tickMs = playlist.tickMs;
    this.startMono = this.clock.monoNow();
    this.ticks = 0;
    this.index = 0;
    this.tick();
  }

  onExit(_callback: (error: RearviewError | undefined) => void): void {
    // A looped file never ends on its own.
  }

  /** Stops playing. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    this.timer = undefined;
    const playlist = this.playlist;
    const sink = this.sink;
    if (this.closed || !playlist || !sink) return;
    const now = this.clock.monoNow();
    let due = this.startMono + this.ticks * this.tickMs;
    const maxLate = this.options.maxLateMs ?? DEFAULT_MAX_LATE_MS;
    if (now - due > maxLate) {
      // The event loop was blocked: continue from now rather than emitting a burst.
      this.options.logger.warn(`playback fell ${Math.round(now - due)} ms behind; re-anchoring the schedule`);
      this.startMono = now - this.ticks * this.tickMs;
      due = now;
    }
    while (due <= now && !this.closed) {
      const au = playlist.accessUnits[this.index] as AccessUnit;
      this.ticks += playlist.durationTicks[this.index] as number;
      this.index++;
      if (this.index === playlist.accessUnits.length) {
        this.index = 0;
        this.loops++;
      }
      this.emitted++;
      // A shallow copy: readers may keep the object while the next loop emits the same unit again.
      sink.accessUnit({ ...au }, this.clock.wallNow());
      due = this.startMono + this.ticks * this.tickMs;
    }
    if (!this.closed) this.timer = this.clock.setTimeout(() => this.tick(), due - now);
  }
}
