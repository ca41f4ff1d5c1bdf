/**
 * Plays an Annex-B file as a live camera: `file:PATH`, and `sample`, the
 * bundled camera-like clip. The file is parsed once into access units, then
 * played in real time in an endless loop.
 *
 * Pacing is drift-free: frame n is due at start + n x interval on a
 * monotonic clock (never "previous + interval", which accumulates timer
 * lateness), and the count keeps running across the wrap so the cadence is
 * exact where the file loops. The frame rate comes from the SPS VUI timing,
 * else from `config.fileFps`. Playback starts at the first IDR picture and
 * every loop returns to it, so a loop is a clean continuation (an IDR with
 * its SPS/PPS) and no discontinuity is signalled. Field pictures (each its
 * own access unit) take half a frame interval each.
 */
import { readFile } from 'node:fs/promises';
import type { AccessUnit } from '../h264/access-unit.js';
import { parseAnnexB } from '../h264/h264-stream-parser.js';
import { SourceError, type RearviewError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { CaptureSource, SourceSink } from './capture-source.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';

/** The bundled sample clip, located from this module (not the working directory). */
export const SAMPLE_ASSET_URL = new URL('../../../assets/sample-640x360.h264', import.meta.url);

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

/** What a parsed file plays: its access units from the first IDR, and the rate. */
export interface FilePlaylist {
  accessUnits: AccessUnit[];
  /** Frames per second used for pacing. */
  fps: number;
  /** Where it came from: 'vui' timing or the 'fallback' rate. */
  fpsFrom: 'vui' | 'fallback';
  /** Access units before the first IDR that are never played. */
  skippedBeforeIdr: number;
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
  const accessUnits = parsed.accessUnits.slice(firstKey);
  const vuiFps = accessUnits.find((au) => au.sps)?.sps?.fps ?? null;
  const usable = vuiFps !== null && Number.isFinite(vuiFps) && vuiFps > 0 && vuiFps <= 1000;
  return {
    accessUnits,
    fps: usable ? vuiFps : fallbackFps,
    fpsFrom: usable ? 'vui' : 'fallback',
    skippedBeforeIdr: firstKey,
  };
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
  /** Half-frame intervals since start (frames advance 2, fields 1): integer, so the schedule never drifts. */
  private ticks = 0;
  private halfIntervalMs = 0;
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
    const playlist = buildPlaylist(bytes, this.path, this.options.fallbackFps ?? 30);
    this.playlist = playlist;
    if (this.closed) return;
    const { logger } = this.options;
    logger.info(
      `playing ${playlist.accessUnits.length} access units at ${playlist.fps} fps (${playlist.fpsFrom === 'vui' ? 'SPS VUI timing' : 'no VUI timing: configured rate'}), looped`,
    );
    if (playlist.skippedBeforeIdr > 0) logger.info(`skipping ${playlist.skippedBeforeIdr} access units before the first IDR`);
    this.halfIntervalMs = 500 / playlist.fps;
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
    let due = this.startMono + this.ticks * this.halfIntervalMs;
    const maxLate = this.options.maxLateMs ?? DEFAULT_MAX_LATE_MS;
    if (now - due > maxLate) {
      // The event loop was blocked: continue from now rather than emitting a burst.
      this.options.logger.warn(`playback fell ${Math.round(now - due)} ms behind; re-anchoring the schedule`);
      this.startMono = now - this.ticks * this.halfIntervalMs;
      due = now;
    }
    while (due <= now && !this.closed) {
      const au = playlist.accessUnits[this.index] as AccessUnit;
      this.index++;
      if (this.index === playlist.accessUnits.length) {
        this.index = 0;
        this.loops++;
      }
      this.ticks += au.structure === 'frame' ? 2 : 1;
      this.emitted++;
      // A shallow copy: readers may keep the object while the next loop emits the same unit again.
      sink.accessUnit({ ...au }, this.clock.wallNow());
      due = this.startMono + this.ticks * this.halfIntervalMs;
    }
    if (!this.closed) this.timer = this.clock.setTimeout(() => this.tick(), due - now);
  }
}
