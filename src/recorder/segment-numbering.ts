/**
 * Where segment numbering continues after a restart. The recorder saves the
 * name of each segment it opens in a state file; at start-up numbering
 * continues after it, else after the end of the circular run of numbers on
 * disk (the device's "most recently written file" only breaks ties), never
 * by modification times alone: a Pi without a real-time clock may stamp a
 * ride 1970. Numbers cycle through the file limit (segmentNumberSpan).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { newestSegmentNumber, type SegmentFile } from './retention.js';
import { MAX_SEGMENT_NUMBER, nextSegmentNumber, parseSegmentName, segmentName } from './segment-names.js';
import { writeFileReplacing } from './recording-file.js';

/**
 * File in the recordings folder naming the last segment opened and the cycle
 * of numbers in use (JSON: {lastSegment, span}); numbering continues after it.
 */
export const RECORDER_STATE = '.recorder-state.json';

/**
 * Saves `name` as the last segment opened, numbered in a cycle of `span`
 * numbers (atomically: temp file, then rename).
 */
export async function saveLastSegment(dir: string, name: string, span = MAX_SEGMENT_NUMBER + 1): Promise<void> {
  const state = join(dir, RECORDER_STATE);
  // An unpredictable temp name, created exclusively: a link planted in the folder cannot redirect the write.
  await writeFileReplacing(state, JSON.stringify({ lastSegment: name, span }));
}

/** The last segment number and cycle recorded in the state file; undefined fields when none or unreadable. */
async function readState(dir: string): Promise<{ number: number | undefined; span: number | undefined }> {
  try {
    const state = JSON.parse(await readFile(join(dir, RECORDER_STATE), 'utf8')) as {
      lastSegment?: unknown;
      span?: unknown;
    };
    const span =
      typeof state.span === 'number' && Number.isInteger(state.span) && state.span >= 1 && state.span <= 10_000
        ? state.span
        : undefined;
    return {
      number: typeof state.lastSegment === 'string' ? parseSegmentName(state.lastSegment) : undefined,
      span,
    };
  } catch {
    return { number: undefined, span: undefined }; // first run in this folder, or written by an older version
  }
}

/**
 * The number of the last segment recorded into `dir` (holding `files`): the
 * end of the recording order, after which numbering continues. `spanGiven` is
 * how many numbers the names cycle through (segmentNumberSpan of the file
 * limit; default: the one the state file records, else 10000). Undefined for an empty folder (wiped), which starts again at
 * log0000 as the device did: there is nothing to overwrite.
 */
export async function lastSegmentNumber(
  dir: string,
  files: readonly SegmentFile[],
  spanGiven?: number,
): Promise<number | undefined> {
  if (files.length === 0) return undefined;
  // Persisted state first, then the numbers on disk (modification times only break ties).
  // The state is trusted only when it names the end of a run on disk: if the number after it
  // exists, something else recorded here since (another firmware, files copied back), and the
  // stale state would rank those newest rides as the oldest for rotation. A full cycle (every
  // number of the span taken, the normal state once the names have wrapped) has no run end:
  // there the state is all there is to go by.
  const state = await readState(dir);
  const stateNumber = state.number;
  // A reader that does not know the file limit (the library on its own) takes the recorder's.
  const span = spanGiven ?? state.span ?? MAX_SEGMENT_NUMBER + 1;
  const names = new Set(files.map((f) => f.name));
  // Files above the span (from a larger limit or an older version) are evidence enough to go by.
  let inSpan = 0;
  for (const f of files) if ((parseSegmentName(f.name) as number) < span) inSpan++;
  const fullCycle = inSpan >= span && inSpan === files.length;
  const stateIsRunEnd =
    stateNumber !== undefined && (fullCycle || !names.has(segmentName(nextSegmentNumber(stateNumber, span))));
  if (stateIsRunEnd) return stateNumber;
  // Numbers above the span were written in a larger cycle: look for run ends in the widest one.
  return newestSegmentNumber(files, inSpan === files.length ? span : MAX_SEGMENT_NUMBER + 1);
}
