/**
 * Whether the camera is recording and, when it is not, why: the one place
 * that decides it. The status document, its events, the page, `rearview
 * status` and the LED all read this, so they never disagree.
 *
 * A deliberate choice (recording turned off, exclusive mode streaming) is
 * said plainly; a failure (folder unwritable, disk full, no video from the
 * source) is an alarm with its reason.
 */
import type { RecorderStatus } from './recorder.js';

/** recording; starting (waiting for the first keyframe); off (turned off); paused (exclusive mode streams); failed. */
export type RecordingState = 'recording' | 'starting' | 'off' | 'paused' | 'failed';

/** What recording health says now. */
export interface RecordingHealth {
  state: RecordingState;
  /** Why it is not recording, in words for people; null while recording. */
  reason: string | null;
  /** Set only for a failure (state 'failed'): the same words as `reason`, so a client can test one field. */
  error: string | null;
  /** ENOSPC, EACCES, ENOTDIR, ERR_SOURCE_DOWN, ...: the failure's code; null unless failed. */
  errorCode: string | null;
}

/** What recording health is decided from. */
export interface RecordingHealthInput {
  /** The recorder's status; undefined when the daemon runs without a recorder (`--no-record`). */
  recorder: Pick<RecorderStatus, 'state' | 'lastError' | 'dir'> | undefined;
  /** `record` setting: recording is wanted. */
  recordEnabled: boolean;
  /** The mode lets the recorder record (false while exclusive mode streams). */
  modeAllowsRecording: boolean;
  /** The capture source's supervisor state ('running', 'starting', 'backoff', 'stopped', ...). */
  sourceState: string;
  /** Why the source last stopped, when it did. */
  sourceError?: { code: string; message: string } | undefined;
}

/** Words for a recorder error code, so a rider reads the cause, not an errno. */
const ERROR_WORDS: Record<string, string> = {
  ENOSPC: 'the card is full',
  EROFS: 'the card is read-only',
  EACCES: 'the recordings folder is not writable',
  EPERM: 'the recordings folder is not writable',
  ENOTDIR: 'the recordings folder is not a folder',
  EEXIST: 'the recordings folder is not a folder',
  ENOENT: 'the recordings folder is missing',
  EIO: 'the card reports I/O errors',
};

function failed(code: string, reason: string): RecordingHealth {
  return { state: 'failed', reason, error: reason, errorCode: code };
}

/** Decides the recording health; see the file comment. */
export function recordingHealth(input: RecordingHealthInput): RecordingHealth {
  const { recorder } = input;
  if (!input.recordEnabled || !recorder) {
    const reason = recorder ? 'recording is turned off in the settings' : 'recording is off (--no-record)';
    return { state: 'off', reason, error: null, errorCode: null };
  }
  if (!input.modeAllowsRecording || recorder.state === 'paused') {
    return {
      state: 'paused',
      reason: 'exclusive mode is streaming; recording resumes when the stream window ends',
      error: null,
      errorCode: null,
    };
  }
  if (recorder.state === 'closed')
    return { state: 'off', reason: 'the recorder has stopped (camera shutting down)', error: null, errorCode: null };
  if (recorder.state === 'retrying') {
    const err = recorder.lastError;
    const code = err?.code ?? 'ERR_RECORDER_IO';
    const words = ERROR_WORDS[code];
    return failed(code, `${words ? `${words} (${code})` : code}: ${err?.message ?? 'write error'}`);
  }
  if (input.sourceState === 'backoff' || input.sourceState === 'stopped') {
    const why = input.sourceError ? `: ${input.sourceError.message}` : '';
    return failed(input.sourceError?.code ?? 'ERR_SOURCE_DOWN', `no video from the camera source${why}`);
  }
  if (recorder.state === 'recording') return { state: 'recording', reason: null, error: null, errorCode: null };
  return { state: 'starting', reason: 'waiting for the first keyframe', error: null, errorCode: null };
}

/**
 * True when `b` is no change from `a` for logs and the LED: same state and
 * error code (the message may name a different segment on every retry).
 */
export function sameHealth(a: RecordingHealth | undefined, b: RecordingHealth): boolean {
  return a !== undefined && a.state === b.state && a.errorCode === b.errorCode;
}
