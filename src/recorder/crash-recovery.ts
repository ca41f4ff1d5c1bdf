/**
 * Crash recovery of the recordings folder. While a segment is written a
 * marker file names it; at start-up the segment it names and the newest
 * segment are checked, and one left unfinished by a crash or power cut is
 * repaired (`repairMatroska`: partial block cut, Cues appended, Duration
 * written). A file is deleted only when proven to hold no frame. Temp files
 * an earlier run left are swept first. See docs/recording.md.
 */
import { readdir, readFile, stat, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { readMatroskaHeader, repairMatroska, type MatroskaRepair } from './matroska-file.js';
import { orderSegments, removeSegmentFiles, type SegmentFile } from './retention.js';
import { parseSegmentName } from './segment-names.js';
import { writeFileReplacing } from './recording-file.js';

/** File in the recordings folder naming the segment being written (JSON: {name, startedAtMs, pid}). */
export const RECORDING_MARKER = '.recording.json';

/** Temp files the recorder and its thumbnailer write: `log0001_1713198307.jpg.part`. */
const OWN_PART_FILE = /^log\d{4}[\w.-]*\.part$/;
/** Temp files of the markers, the upload queue and the moments file: `.recording.json.<random>.tmp` (and the older fixed `.recording.json.tmp`). */
const OWN_MARKER_TMP = /^\.(recording|recorder-state|upload-queue|moments)\.json(\.[0-9a-f]+)?\.tmp$/;

/** Below this size a file that does not parse as Matroska was cut before its header was complete, so before any frame. */
const MIN_HEADER_BYTES = 1024;

/** Names `name` as the segment being written (atomically: temp file, then rename). */
export async function writeRecordingMarker(dir: string, name: string, startedAtMs: number): Promise<void> {
  // Temp names are unpredictable and created exclusively: a link planted in the folder cannot redirect the write.
  await writeFileReplacing(join(dir, RECORDING_MARKER), JSON.stringify({ name, startedAtMs, pid: process.pid }));
}

/** Removes the marker: no segment is being written (best effort). */
export async function removeRecordingMarker(dir: string): Promise<void> {
  await unlink(join(dir, RECORDING_MARKER)).catch(() => {
    // usually absent already; one left behind only makes the next start check a sealed segment
  });
}

/**
 * Removes temp files a crash or a failed thumbnail left (our `logNNNN*.part`, the markers'
 * `.tmp`). Only our own names: the folder may be shared, e.g. a browser's downloads in progress.
 */
export async function sweepTempFiles(dir: string, logger: Logger): Promise<void> {
  for (const n of await readdir(dir)) {
    if (!OWN_PART_FILE.test(n) && !OWN_MARKER_TMP.test(n)) continue;
    await unlink(join(dir, n)).catch((err: Error) => logger.debug(`could not remove ${n}: ${err.message}`));
    logger.info(`removed ${n} left by an earlier run`);
  }
}

/**
 * Repairs what a crash left in `dir` (holding `files`, `newest` the last
 * number in recording order): the segment the marker names and the newest
 * segment, then removes the marker. `onRepaired` hears each segment repaired.
 */
export async function recoverUnfinishedSegments(
  dir: string,
  files: SegmentFile[],
  newest: number | undefined,
  options: { logger: Logger; onRepaired: (name: string) => void },
): Promise<void> {
  const newestFile = orderSegments(files, newest).at(-1);
  const suspects = new Set<string>();
  try {
    const marker = JSON.parse(await readFile(join(dir, RECORDING_MARKER), 'utf8')) as { name?: unknown };
    if (typeof marker.name === 'string' && parseSegmentName(marker.name) !== undefined) suspects.add(marker.name);
  } catch {
    // no marker: clean shutdown (or never recorded)
  }
  if (newestFile) suspects.add(newestFile.name);
  for (const name of suspects) await recoverSegment(dir, name, options);
  await removeRecordingMarker(dir);
}

/**
 * Repairs a segment a crash may have left unfinished. Deletes it only when
 * proven to hold no frame; an I/O error (EIO, EACCES, EMFILE, ...) or a file
 * we cannot parse is logged and left alone.
 */
async function recoverSegment(
  dir: string,
  name: string,
  { logger, onRepaired }: { logger: Logger; onRepaired: (name: string) => void },
): Promise<void> {
  const path = join(dir, name);
  let durationMs: number | null;
  try {
    durationMs = (await readMatroskaHeader(path)).durationMs;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    let sizeBytes = Infinity;
    if (code === undefined)
      sizeBytes = await stat(path).then(
        (s) => s.size,
        () => Infinity,
      );
    if (sizeBytes < MIN_HEADER_BYTES) {
      // Not Matroska and smaller than a header: cut before its first frame, nothing playable in it.
      logger.warn(`${name} was cut before its header was complete (${sizeBytes} bytes, no frame); deleting it`);
      await removeSegmentFiles(dir, name);
    } else {
      logger.warn(`${name}: could not read its header (${(err as Error).message}); left as it is`);
    }
    return;
  }
  if (durationMs !== null) return; // sealed: finished cleanly
  let r: MatroskaRepair;
  try {
    r = await repairMatroska(path);
  } catch (err) {
    logger.warn(`${name} looks unfinished but could not be repaired (${(err as Error).message}); left as it is`);
    return;
  }
  if (r.blocks === 0) {
    logger.warn(`${name} was cut before its first frame; deleting it`);
    await removeSegmentFiles(dir, name);
    return;
  }
  onRepaired(name);
  logger.warn(
    `${name} was left unfinished (crash or power cut): repaired, ${r.blocks} frames, ${(r.durationMs / 1000).toFixed(2)} s kept, ${r.truncatedBytes} bytes of a partial frame cut`,
  );
}

/** Leaves a segment cut by a write error playable (best effort: the disk may still be failing); one with no frame is deleted. */
export async function repairCutSegment(dir: string, path: string, logger: Logger): Promise<void> {
  try {
    const r = await repairMatroska(path);
    if (r.blocks === 0) await removeSegmentFiles(dir, basename(path)); // nothing playable in it
  } catch (err) {
    logger.debug(`could not repair ${path} after the error: ${(err as Error).message}`);
  }
}
