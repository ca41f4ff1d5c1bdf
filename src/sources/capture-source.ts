/**
 * The one interface every capture backend implements (sample, file, rpicam,
 * gstreamer, ffmpeg, stdin, tcp relay). A source turns whatever it reads
 * into complete access units with a capture timestamp and hands them to its
 * sink synchronously; it never buffers frames of its own.
 */
import type { AccessUnit } from '../h264/access-unit.js';
import type { RearviewError } from '../errors.js';

/** Where a source delivers its output (the StreamHub, via the supervisor). */
export interface SourceSink {
  /**
   * One complete access unit. `capturedAtMs` is the wall-clock capture time
   * (ms since the Unix epoch): when the camera produced it, or, when that is
   * unknown, when its last byte arrived.
   */
  accessUnit(au: AccessUnit, capturedAtMs: number): void;
  /**
   * The source started a new run (process restarted, reconnected, file
   * looped with a discontinuity): what follows must be decoded from its
   * next keyframe with its own SPS/PPS.
   */
  discontinuity(reason: string): void;
}

/** Lifecycle of one capture backend. */
export interface CaptureSource {
  /** Short name for logs and status ("sample", "rpicam", "tcp://cam:5000"). */
  readonly name: string;
  /**
   * False when starting a fresh instance cannot bring video back (standard
   * input after end of file): the supervisor then stops instead of
   * retrying. Absent means true.
   */
  readonly restartable?: boolean;
  /**
   * True when the source also delivers the recording profile (`recordVideo`),
   * a second encode of the same capture, to the `recordingSink` of start().
   * Absent means false: one stream, which the recorder records as it is.
   */
  readonly recordingOutput?: boolean;
  /**
   * Starts delivering to `sink` (the stream profile) and, for a source with
   * `recordingOutput`, to `recordingSink` (the recording profile; without
   * one that output is read and dropped). Resolves once running; rejects
   * with a SourceError when it cannot start at all. Runtime failures after
   * that are reported through `onExit` so a supervisor can restart the source.
   */
  start(sink: SourceSink, recordingSink?: SourceSink): Promise<void>;
  /** Called once when the source stops on its own (process exit, EOF, dropped connection). */
  onExit(callback: (error: RearviewError | undefined) => void): void;
  /** Stops the source and releases everything it holds (kills its process group). Idempotent. */
  close(): Promise<void>;
}
