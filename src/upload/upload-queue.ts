/**
 * The upload queue, persisted next to the recordings in `.upload-queue.json`
 * so uploads resume after a restart or a power cut: the segments waiting
 * (oldest first), each one's hashes once computed, the multipart upload in
 * progress (its id and the parts the server acknowledged), and the record of
 * segments already uploaded (for the retention rule: uploaded ones are
 * deleted first).
 *
 * Written crash-safely: a new temporary file under an unpredictable name,
 * created exclusively (never through a planted link), written and
 * fdatasync'ed, then renamed over the old one and the folder synced. A power
 * cut leaves the old or the new file, never half of one. Read like every
 * file of the recordings folder: hostile (opened without following links, a
 * small regular file, every field checked); a file that does not parse is
 * set aside and the queue starts empty (logged).
 */
import { constants } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { randomSuffix } from '../recorder/recording-file.js';
import { parseSegmentName } from '../recorder/segment-names.js';
import type { FileHashes } from './segment-hashes.js';

/** Name of the queue file in the recordings folder. */
export const UPLOAD_QUEUE_FILE = '.upload-queue.json';

/** Largest queue file read (about 1 KB per entry; the queue is bounded well below). */
const MAX_QUEUE_FILE_BYTES = 16 * 1024 * 1024;

/** Whether a segment's start time can be believed. */
export type EntryClock = 'valid' | 'waiting' | 'undated';

/** One segment waiting to be uploaded. */
export interface QueueEntry {
  /** `log0001.mkv`. */
  name: string;
  queuedAtMs: number;
  /** Size when finished (a later size means the file changed: hashed again). */
  sizeBytes: number;
  /** Capture time of the first frame, ms since the epoch; duration; frames (null when unknown, e.g. repaired). */
  startedAtMs: number;
  durationMs: number;
  frames: number | null;
  width: number | null;
  height: number | null;
  /**
   * `valid`: the start is true. `waiting`: recorded before the clock was
   * set, waiting to be re-stamped (in the run that recorded it). `undated`:
   * never re-stamped (that run ended first): uploaded under `undated/`.
   */
  clock: EntryClock;
  /** The daemon run that queued it (a `waiting` entry of another run can no longer be re-stamped). */
  runId: string;
  /** Hashes of the file, with the identity of what was hashed. */
  hashes?: FileHashes & { ino: number; mtimeMs: number };
  /** Object key once decided. */
  key?: string;
  /** A multipart upload in progress: its id and the parts the server acknowledged. */
  multipart?: { uploadId: string; key: string; done: { partNumber: number; etag: string }[] };
  /** CompleteMultipartUpload (or the PutObject) was sent: on resume, HEAD before sending anything again. */
  sent?: boolean;
  /** The thumbnail went up (or there is none). */
  thumbnailDone?: boolean;
  attempts: number;
}

/** A segment uploaded and checked. */
export interface UploadedRecord {
  name: string;
  key: string;
  sizeBytes: number;
  sha256Hex: string;
  /** How the stored object was checked: `sha256` (the server's checksum), `md5` (its ETag), `none` (neither available). */
  verified: 'sha256' | 'md5' | 'none';
  atMs: number;
}

/** The persisted document. */
export interface QueueDocument {
  version: 1;
  entries: QueueEntry[];
  uploaded: UploadedRecord[];
}

/** Most uploaded records kept (the recorder's 10000 segment numbers). */
export const MAX_UPLOADED_RECORDS = 10_000;

/** Reads the queue file; `{entries: [], uploaded: []}` when there is none. Throws on a bad file (the caller sets it aside). */
export async function readQueueFile(dir: string): Promise<QueueDocument> {
  const path = join(dir, UPLOAD_QUEUE_FILE);
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, entries: [], uploaded: [] };
    throw err;
  }
  try {
    const s = await fh.stat();
    if (!s.isFile()) throw new Error('not a regular file');
    if (s.size > MAX_QUEUE_FILE_BYTES) throw new Error(`larger than ${MAX_QUEUE_FILE_BYTES} bytes`);
    const text = (await fh.readFile()).toString('utf8');
    return validateDocument(JSON.parse(text));
  } finally {
    await fh.close();
  }
}

/** Moves a queue file that could not be read aside (`.upload-queue.json.bad`), so it can be looked at. */
export async function setQueueFileAside(dir: string): Promise<void> {
  await rename(join(dir, UPLOAD_QUEUE_FILE), join(dir, `${UPLOAD_QUEUE_FILE}.bad`)).catch(() => undefined); // gone already: nothing to keep
}

/** Writes the document crash-safely (see the file comment). */
export async function writeQueueFile(dir: string, doc: QueueDocument): Promise<void> {
  const path = join(dir, UPLOAD_QUEUE_FILE);
  const tmp = `${path}.${randomSuffix()}.tmp`;
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    await fh.writeFile(JSON.stringify(doc));
    await fh.datasync();
  } catch (err) {
    await fh.close().catch(() => undefined); // failing already: the write error is what is reported
    await unlink(tmp).catch(() => undefined); // best effort: the start-up sweep removes a leftover temp file
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined); // best effort, as above
    throw err;
  }
  // The rename reaches the disk with the folder's metadata.
  const dh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await dh.sync();
  } catch {
    // Some filesystems refuse fsync on a folder (EINVAL): the rename is still atomic.
  } finally {
    await dh.close();
  }
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isHex = (v: unknown, n: number): v is string => typeof v === 'string' && new RegExp(`^[0-9a-f]{${n}}$`).test(v);
const isText = (v: unknown, max = 1024): v is string =>
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  typeof v === 'string' && v.length <= max && !/[\u0000-\u001f\u007f]/.test(v);

/** Checks every field of a parsed queue file; throws on the first bad one. */
function validateDocument(raw: unknown): QueueDocument {
  const fail = (what: string): never => {
    throw new Error(`bad ${what}`);
  };
  if (typeof raw !== 'object' || raw === null) fail('document');
  const doc = raw as Record<string, unknown>;
  if (doc.version !== 1) fail('version');
  if (!Array.isArray(doc.entries) || !Array.isArray(doc.uploaded)) fail('lists');
  const entries = (doc.entries as unknown[]).map((e) => checkEntry(e, fail));
  const uploaded = (doc.uploaded as unknown[]).map((u) => {
    const r = u as Record<string, unknown>;
    if (typeof r !== 'object' || r === null || parseSegmentName(r.name as string) === undefined) fail('uploaded name');
    if (!isText(r.key) || !isInt(r.sizeBytes) || !isHex(r.sha256Hex, 64) || !isNum(r.atMs)) fail('uploaded record');
    if (r.verified !== 'sha256' && r.verified !== 'md5' && r.verified !== 'none') fail('uploaded verified');
    return r as unknown as UploadedRecord;
  });
  return { version: 1, entries, uploaded: uploaded.slice(-MAX_UPLOADED_RECORDS) };
}

function checkEntry(raw: unknown, fail: (what: string) => never): QueueEntry {
  if (typeof raw !== 'object' || raw === null) fail('entry');
  const e = raw as Record<string, unknown>;
  if (typeof e.name !== 'string' || parseSegmentName(e.name) === undefined) fail('entry name');
  for (const k of ['queuedAtMs', 'startedAtMs', 'durationMs'] as const) if (!isNum(e[k])) fail(`entry ${k}`);
  for (const k of ['sizeBytes', 'attempts'] as const) if (!isInt(e[k]) || (e[k] as number) < 0) fail(`entry ${k}`);
  for (const k of ['frames', 'width', 'height'] as const) if (e[k] !== null && !isInt(e[k])) fail(`entry ${k}`);
  if (e.clock !== 'valid' && e.clock !== 'waiting' && e.clock !== 'undated') fail('entry clock');
  if (!isText(e.runId, 64)) fail('entry runId');
  if (e.key !== undefined && !isText(e.key)) fail('entry key');
  if (e.hashes !== undefined) {
    const h = e.hashes as Record<string, unknown>;
    if (!isInt(h.size) || !isInt(h.partBytes) || !isNum(h.ino) || !isNum(h.mtimeMs)) fail('entry hashes');
    if (!isHex(h.sha256Hex, 64) || !isHex(h.md5Hex, 32) || !Array.isArray(h.parts) || h.parts.length > 10_000)
      fail('entry hashes');
    for (const p of h.parts as Record<string, unknown>[])
      if (!isInt(p.size) || !isHex(p.sha256Hex, 64) || !isHex(p.md5Hex, 32)) fail('entry part hashes');
  }
  if (e.multipart !== undefined) {
    const m = e.multipart as Record<string, unknown>;
    if (!isText(m.uploadId) || !isText(m.key) || !Array.isArray(m.done)) fail('entry multipart');
    for (const p of m.done as Record<string, unknown>[])
      if (!isInt(p.partNumber) || !isText(p.etag, 200)) fail('entry multipart part');
  }
  for (const k of ['sent', 'thumbnailDone'] as const)
    if (e[k] !== undefined && typeof e[k] !== 'boolean') fail(`entry ${k}`);
  return e as unknown as QueueEntry;
}
