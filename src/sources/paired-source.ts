/**
 * Two capture sources run as one: the stream profile and the recording
 * profile of the same scene (the `sample` source's 360p and 720p clips).
 * They start, fail and stop together, so the supervisor restarts both and
 * both hubs see the same discontinuity.
 */
import { SourceError, type RearviewError } from '../errors.js';
import type { CaptureSource, SourceSink } from './capture-source.js';

/** A stream source and a recording source as one CaptureSource with a recording output. */
export class PairedSource implements CaptureSource {
  readonly name: string;
  readonly recordingOutput = true;
  private readonly exitCallbacks: Array<(error: RearviewError | undefined) => void> = [];
  private exitReported = false;
  /** Drops what the recording source delivers when start() got no recording sink. */
  private static readonly discard: SourceSink = { accessUnit: () => undefined, discontinuity: () => undefined };

  constructor(
    name: string,
    private readonly stream: CaptureSource,
    private readonly recording: CaptureSource,
  ) {
    this.name = name;
    const report = (which: string) => (error: RearviewError | undefined) =>
      this.reportExit(error ?? new SourceError('ERR_SOURCE_EXITED', `${name}: the ${which} output stopped`));
    stream.onExit(report('stream'));
    recording.onExit(report('recording'));
  }

  async start(sink: SourceSink, recordingSink?: SourceSink): Promise<void> {
    // Both or neither: a half-started pair is closed by the supervisor like any failed start.
    await Promise.all([this.stream.start(sink), this.recording.start(recordingSink ?? PairedSource.discard)]);
  }

  onExit(callback: (error: RearviewError | undefined) => void): void {
    this.exitCallbacks.push(callback);
  }

  async close(): Promise<void> {
    await Promise.all([this.stream.close(), this.recording.close()]);
  }

  private reportExit(error: RearviewError): void {
    if (this.exitReported) return;
    this.exitReported = true;
    for (const cb of this.exitCallbacks) cb(error);
  }
}
