/**
 * Where segment numbering continues after a restart. The recorder saves the
 * name of each segment it opens in a state file; at start-up numbering
 * continues after it, else after the end of the circular run of numbers on
 * disk (the device's "most recently written file" only breaks ties), never
 * by modification times alone: a Pi without a real-time clock may stamp a
 * ride 1970.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { newestSegmentNumber, type SegmentFile } from './retention.js';
import { nextSegmentNumber, parseSegmentName, segmentName } from './segment-names.js';
import { writeFileReplacing } from './recording-file.js';

/** File in the recordings folder naming the last segment opened (JSON: {lastSegment}); numbering continues after it. */
export const RECORDER_STATE = '.recorder-state.json';

/** Saves `name` as the last segment opened (atomically: temp file, then rename). */
export async function saveLastSegment(dir: string, name: string): Promise<void> {
  const state = join(dir, RECORDER_STATE);
  // An unpredictable temp name, created exclusively: a link planted in the folder cannot redirect the write.
  await writeFileReplacing(state, JSON.stringify({ lastSegment: name }));
}

/** The last segment number recorded in the state file, or undefined (none, unreadable). */
async function readStateNumber(dir: string): Promise<number | undefined> {
  try {
    const state = JSON.parse(await readFile(join(dir, RECORDER_STATE), 'utf8')) as { lastSegment?: unknown };
    return typeof state.lastSegment === 'string' ? parseSegmentName(state.lastSegment) : undefined;
  } catch {
    return undefined; // first run in this folder, or written by an older version
  }
}

/**
 * The number of the last segment recorded into `dir` (holding `files`): the
 * end of the recording order, after which numbering continues. Undefined for
 * an empty folder (wiped), which starts again at log0000 as the device did:
 * there is nothing to overwrite.
 */
export async function lastSegmentNumber(dir: string, files: readonly SegmentFile[]): Promise<number | undefined> {
  if (files.length === 0) return undefined;
  // Persisted state first, then the numbers on disk (modification times only break ties).
  // The state is trusted only when it names the end of a run on disk: if the number after it
  // exists, something else recorded here since (another firmware, files copied back), and the
  // stale state would rank those newest rides as the oldest for rotation.
  const stateNumber = await readStateNumber(dir);
  const names = new Set(files.map((f) => f.name));
  const stateIsRunEnd = stateNumber !== undefined && !names.has(segmentName(nextSegmentNumber(stateNumber)));
  return stateIsRunEnd ? stateNumber : newestSegmentNumber(files);
}
