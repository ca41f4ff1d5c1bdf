/**
 * Moments: "keep what the camera saw around now". A moment is a time window
 * [at - before, at + after]; every segment overlapping it is kept out of
 * rotation and wipe by leaving the ring: once finished it is renamed in
 * place from `log0042.mkv` to `log0042-<start Unix seconds>.mkv` (its
 * thumbnail likewise), so it neither counts toward the file limit nor holds
 * a ring name, and recording never waits for it. Until it is finished (the
 * segment being written, or one opened while a window is still open) it is
 * "pending": the retention rule's isProtected answers true for it.
 *
 * The moments are stored in `.moments.json` in the recordings folder,
 * written crash-safely (a new temporary file, fsync, rename, fsync of the
 * folder). Which segments a moment holds is derived again from the files at
 * start-up (reconcile): a crash between a rename and the save, or a segment
 * cut by a power cut, is picked up then. See docs/recording.md, "Moments".
 */
import { constants } from 'node:fs';
import { lstat, open, readdir, rename, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { RearviewError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';
import { writeFileReplacing } from './recording-file.js';
import { thumbnailSeconds, type RecordingInfo } from './recording-library.js';
import { statfsDiskSpace, type DiskSpaceFn } from './retention.js';
import {
  parseProtectedName,
  parseSegmentName,
  parseThumbnailName,
  protectedSegmentName,
  thumbnailName,
} from './segment-names.js';

/** File of the moments in the recordings folder. */
export const MOMENTS_FILE = '.moments.json';
/** Longest note, characters. */
export const MAX_NOTE_LENGTH = 200;
/** Most moments kept: bounds the file and the list. */
export const MAX_MOMENTS = 1000;
/** Largest moments file read, bytes (a planted huge file must not be read into memory). */
const MAX_FILE_BYTES = 2 * 1024 * 1024;
const ID_RE = /^[0-9a-f]{12}$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/** Who marked a moment. */
export type MomentSource = 'api' | 'button' | 'page';

/** One moment as stored. Times are capture times (the camera's clock), ms since the epoch. */
export interface Moment {
  id: string;
  atMs: number;
  fromMs: number;
  toMs: number;
  note: string | null;
  source: MomentSource;
  /** The camera's clock was set when it was marked (else the times are provisional; corrected when it is set). */
  clockSet: boolean;
  /** Protected segment names it holds (`log0042-1713198307.mkv`). */
  segments: string[];
}

/** A moment as listed: with its segments' total size and whether its window is still open. */
export interface MomentInfo extends Moment {
  bytes: number;
  /** Segments of the window still in the ring (being written, or waiting to be moved out). */
  pendingSegments: string[];
  /** The window has ended and every segment of it is protected. */
  complete: boolean;
}

/** What the store needs of the recordings library. */
export interface MomentLibrary {
  list(): Promise<RecordingInfo[]>;
}

/** Options of {@link MomentStore}. */
export interface MomentStoreOptions {
  dir: string;
  library: MomentLibrary;
  /** Kept before the mark, ms. Default 60 000. */
  beforeMs?: number;
  /** Kept after the mark, ms. Default 30 000. */
  afterMs?: number;
  /** Cap on protected data: bytes or a percentage of the disk. Default 25 %. */
  maxProtected?: { bytes: number } | { percent: number };
  /** Least time between two accepted marks, ms. Default 5000. */
  minIntervalMs?: number;
  /** The capture clock (wall time the segments are stamped with), ms. Default Date.now. */
  now?: () => number;
  /** A monotonic clock for the rate limit, ms. Default performance.now. */
  monotonicNow?: () => number;
  /** Whether the camera's clock is set. Default: always. */
  clockIsSet?: () => boolean;
  diskSpace?: DiskSpaceFn;
  /** Told after a segment left the ring under its protected name (the uploader follows it). Must not throw. */
  onSegmentRenamed?: (from: string, to: string) => void;
  logger?: Logger;
}

/** The moments of one recordings folder; see the file comment. */
export class MomentStore {
  readonly dir: string;
  readonly beforeMs: number;
  readonly afterMs: number;
  private readonly library: MomentLibrary;
  private readonly maxProtected: { bytes: number } | { percent: number };
  private readonly minIntervalMs: number;
  private readonly now: () => number;
  private readonly monotonicNow: () => number;
  private readonly clockIsSet: () => boolean;
  private readonly diskSpace: DiskSpaceFn;
  private readonly logger: Logger;
  private readonly onSegmentRenamed: ((from: string, to: string) => void) | undefined;
  private moments: Moment[] = [];
  /** Finished ring segments inside a window, not moved out yet: never rotated. */
  private readonly pending = new Set<string>();
  /** The segment being written and its start (protected while a window reaches it). */
  private current: { name: string; startedAtMs: number } | undefined;
  /** Monotonic time of the last accepted mark (rate limit). */
  private lastMarkMono: number | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private opened = false;

  constructor(options: MomentStoreOptions) {
    this.dir = options.dir;
    this.library = options.library;
    this.beforeMs = options.beforeMs ?? 60_000;
    this.afterMs = options.afterMs ?? 30_000;
    this.maxProtected = options.maxProtected ?? { percent: 25 };
    this.minIntervalMs = options.minIntervalMs ?? 5000;
    this.now = options.now ?? Date.now;
    this.monotonicNow = options.monotonicNow ?? (() => performance.now());
    this.clockIsSet = options.clockIsSet ?? (() => true);
    this.diskSpace = options.diskSpace ?? statfsDiskSpace;
    this.logger = options.logger ?? silentLogger;
    this.onSegmentRenamed = options.onSegmentRenamed;
  }

  /** For the retention rule: a ring segment inside a moment's window that is not moved out yet. */
  isProtected(name: string): boolean {
    if (this.pending.has(name)) return true;
    const c = this.current;
    return c !== undefined && c.name === name && this.windowReaches(c.startedAtMs);
  }

  /** A moment's window is still open at `ms` (a segment starting then belongs to it). */
  private windowReaches(ms: number): boolean {
    return this.moments.some((m) => m.toMs > ms);
  }

  /** Loads the stored moments (a damaged file is logged and set aside, never fatal). Call before the recorder starts. */
  async load(): Promise<void> {
    await this.serial(async () => {
      this.moments = await this.readFile();
      this.opened = true;
      // Before the recorder's first rotation: every ring segment inside a window is pending until reconciled.
      for (const r of await this.library.list()) if (this.ringInWindow(r)) this.pending.add(r.name);
    });
  }

  /** Moves finished ring segments inside windows out of the ring and brings the moments' lists up to date. */
  reconcile(): Promise<void> {
    return this.serial(() => this.reconcileNow());
  }

  /** The recorder opened `name` (starting at `startedAtMs`): pending when a window is still open. */
  segmentOpened(name: string, startedAtMs: number): void {
    this.current = { name, startedAtMs };
  }

  /** The recorder finished `name`: moves it out of the ring when a window holds it. */
  segmentFinished(name: string): void {
    const c = this.current;
    if (c?.name === name) {
      this.current = undefined;
      if (this.windowReaches(c.startedAtMs)) this.pending.add(name);
    }
    if (!this.pending.has(name)) return;
    void this.reconcile().catch((err: Error) => this.logger.warn(`moments: ${err.message}`));
  }

  /** The clock was set: provisional moments move by the correction, as the segments do. */
  clockCorrected(correctionMs: number): void {
    void this.serial(async () => {
      let changed = false;
      for (const m of this.moments) {
        if (m.clockSet) continue;
        m.atMs += correctionMs;
        m.fromMs += correctionMs;
        m.toMs += correctionMs;
        m.clockSet = true;
        changed = true;
      }
      if (changed) await this.save();
    }).catch((err: Error) => this.logger.warn(`moments: ${err.message}`));
  }

  /**
   * Marks "now". Refused with RearviewError ERR_RATE_LIMITED (another mark
   * less than minIntervalMs ago), ERR_PROTECTED_FULL (protected data would
   * pass --max-protected, or MAX_MOMENTS), ERR_API_BAD_REQUEST (a bad note).
   * Recording is never affected.
   */
  async mark(input: { note?: unknown; source?: MomentSource } = {}): Promise<MomentInfo> {
    const note = checkNote(input.note);
    return this.serial(async () => {
      if (!this.opened) throw new RearviewError('ERR_NOT_RECORDING', 'moments are not loaded yet; try again');
      const mono = this.monotonicNow();
      if (this.lastMarkMono !== undefined && mono - this.lastMarkMono < this.minIntervalMs) {
        const wait = Math.ceil((this.minIntervalMs - (mono - this.lastMarkMono)) / 1000);
        throw new RearviewError(
          'ERR_RATE_LIMITED',
          `a moment was marked ${((mono - this.lastMarkMono) / 1000).toFixed(1)} s ago; one mark per ${this.minIntervalMs / 1000} s (try again in ${wait} s)`,
        );
      }
      if (this.moments.length >= MAX_MOMENTS)
        throw new RearviewError(
          'ERR_PROTECTED_FULL',
          `${MAX_MOMENTS} moments are kept already: delete some to keep a new one (recording goes on)`,
        );
      const list = await this.library.list();
      const cap = await this.capBytes();
      const used = this.protectedBytes(list);
      const estimate = this.estimateBytes(list);
      if (used + estimate > cap)
        throw new RearviewError(
          'ERR_PROTECTED_FULL',
          `protected recordings hold ${mb(used)} of the ${mb(cap)} allowed (--max-protected); this moment needs about ${mb(estimate)} more: delete a moment to keep a new one (recording goes on)`,
        );
      const atMs = Math.round(this.now());
      const moment: Moment = {
        id: randomBytes(6).toString('hex'),
        atMs,
        fromMs: atMs - this.beforeMs,
        toMs: atMs + this.afterMs,
        note,
        source: input.source ?? 'api',
        clockSet: this.clockIsSet(),
        segments: [],
      };
      this.moments.push(moment);
      try {
        await this.save();
      } catch (err) {
        // Not stored is not kept: say so rather than keep a moment a restart would forget.
        this.moments.pop();
        throw new RearviewError(
          'ERR_RECORDER_IO',
          `cannot save the moment in ${MOMENTS_FILE}: ${(err as Error).message} (recording goes on)`,
          { cause: err },
        );
      }
      this.lastMarkMono = mono;
      for (const r of list) if (this.ringInWindow(r)) this.pending.add(r.name);
      this.logger.info(
        `moment ${moment.id} marked (${moment.source}${note ? `: ${JSON.stringify(note)}` : ''}): keeping ${new Date(moment.fromMs).toISOString()} to ${new Date(moment.toMs).toISOString()}`,
      );
      await this.reconcileNow(list);
      return this.info(moment, await this.library.list());
    });
  }

  /** Resolves when no operation (a mark, a reconcile after a segment finished) is running (tests). */
  async idle(): Promise<void> {
    for (let last: Promise<unknown> | undefined; last !== this.chain; ) {
      last = this.chain;
      await last;
    }
  }

  /** Every moment, oldest first, with sizes. */
  async list(): Promise<MomentInfo[]> {
    const list = await this.library.list();
    return this.moments.map((m) => this.info(m, list));
  }

  /** The moments holding the protected segment `name`. */
  holders(name: string): Moment[] {
    return this.moments.filter((m) => m.segments.includes(name));
  }

  /**
   * Deletes a moment and the protected segments no other moment holds
   * (ERR_NOT_FOUND for an unknown id, ERR_API_BAD_REQUEST for a malformed one).
   * Ring segments it kept pending go back to normal rotation.
   */
  async remove(id: string): Promise<{ deleted: string; deletedSegments: string[] }> {
    if (typeof id !== 'string' || !ID_RE.test(id))
      throw new RearviewError('ERR_API_BAD_REQUEST', 'a moment id is 12 hexadecimal digits');
    return this.serial(async () => {
      const m = this.moments.find((x) => x.id === id);
      if (!m) throw new RearviewError('ERR_NOT_FOUND', `no moment ${id}`);
      this.moments = this.moments.filter((x) => x !== m);
      await this.save();
      const stillHeld = new Set(this.moments.flatMap((x) => x.segments));
      const deletedSegments: string[] = [];
      for (const name of m.segments) {
        if (stillHeld.has(name)) continue;
        if (await this.deleteProtected(name)) deletedSegments.push(name);
      }
      await this.refreshPending();
      this.logger.info(`moment ${id} deleted with ${deletedSegments.length} protected segment(s)`);
      return { deleted: id, deletedSegments };
    });
  }

  /** Deletes every moment and every protected segment (a wipe that asked for them). Returns the segments deleted. */
  async removeAll(): Promise<number> {
    return this.serial(async () => {
      this.moments = [];
      await this.save();
      this.pending.clear();
      let n = 0;
      for (const r of await this.library.list())
        if (parseProtectedName(r.name) && (await this.deleteProtected(r.name))) n++;
      return n;
    });
  }

  /** Bytes of protected data: segments out of the ring plus pending ones. */
  private protectedBytes(list: readonly RecordingInfo[]): number {
    let n = 0;
    for (const r of list) if (parseProtectedName(r.name) || this.pending.has(r.name)) n += r.sizeBytes;
    return n;
  }

  /** About how many bytes a new window adds: its length at the newest finished segment's byte rate. */
  private estimateBytes(list: readonly RecordingInfo[]): number {
    const finished = list.filter((r) => !r.inProgress && r.durationMs && r.durationMs > 0);
    const last = finished[finished.length - 1];
    if (!last?.durationMs) return 0;
    return Math.round((last.sizeBytes / last.durationMs) * (this.beforeMs + this.afterMs));
  }

  private async capBytes(): Promise<number> {
    const cap = this.maxProtected;
    if ('bytes' in cap) return cap.bytes;
    return (cap.percent / 100) * (await this.diskSpace(this.dir)).diskBytes;
  }

  private ringInWindow(r: RecordingInfo): boolean {
    if (parseSegmentName(r.name) === undefined) return false;
    return this.moments.some((m) => overlaps(r, m));
  }

  private async reconcileNow(given?: RecordingInfo[]): Promise<void> {
    let list = given ?? (await this.library.list());
    let moved = 0;
    for (const r of list) {
      if (!this.ringInWindow(r)) continue;
      if (r.inProgress) continue; // protected as the current segment; moved once finished
      try {
        if (await this.moveOut(r)) moved++;
      } catch (err) {
        this.logger.warn(`moments: could not protect ${r.name}: ${(err as Error).message}`);
      }
    }
    if (moved > 0) list = await this.library.list();
    // The moments' lists from the files: a crash between a rename and the save loses nothing.
    let changed = false;
    const present = new Map(list.filter((r) => parseProtectedName(r.name)).map((r) => [r.name, r]));
    for (const m of this.moments) {
      const want = [...present.values()].filter((r) => overlaps(r, m)).map((r) => r.name);
      const kept = m.segments.filter((n) => present.has(n));
      const next = [...new Set([...kept, ...want])].sort(byStart);
      if (next.join() !== m.segments.join()) {
        const lost = m.segments.filter((n) => !present.has(n));
        if (lost.length > 0) this.logger.warn(`moment ${m.id}: ${lost.join(', ')} no longer on the card`);
        m.segments = next;
        changed = true;
      }
    }
    if (changed) await this.save();
    await this.refreshPending(list);
  }

  /**
   * Pending = finished ring segments inside a window. The segment being
   * written is tracked apart (`current`): a listing taken before it opened
   * must not drop it.
   */
  private async refreshPending(given?: RecordingInfo[]): Promise<void> {
    const list = given ?? (await this.library.list());
    const keep = new Set<string>();
    for (const r of list) if (!r.inProgress && this.ringInWindow(r)) keep.add(r.name);
    // A name finished after this listing was taken stays (segmentFinished added it; the next reconcile moves it).
    const listed = new Set(list.filter((r) => !r.inProgress).map((r) => r.name));
    for (const n of [...this.pending]) if (listed.has(n) && !keep.has(n)) this.pending.delete(n);
    for (const n of keep) this.pending.add(n);
  }

  /**
   * Renames a finished ring segment (and its thumbnail) to its protected
   * name. Only a regular file with one link; never over an existing name.
   */
  private async moveOut(r: RecordingInfo): Promise<boolean> {
    const src = join(this.dir, r.name);
    const s = await lstat(src).catch(() => undefined);
    if (!s) return false; // rotated or deleted meanwhile
    if (!s.isFile() || s.nlink !== 1) {
      this.logger.warn(`moments: ${r.name} is not a plain file (link?): left alone`);
      return false;
    }
    let seconds = thumbnailSeconds(r);
    let target = protectedSegmentName(r.name, seconds);
    // Never over an existing name (clock trouble: the same start twice).
    for (let i = 0; (await lstat(join(this.dir, target)).catch(() => undefined)) && i < 100; i++)
      target = protectedSegmentName(r.name, ++seconds);
    await rename(src, join(this.dir, target));
    this.pending.delete(r.name);
    if (r.thumbnail) {
      const t = parseThumbnailName(r.thumbnail.name);
      const to = thumbnailName(target, (t?.unixSeconds ?? seconds) * 1000);
      if (!(await lstat(join(this.dir, to)).catch(() => undefined)))
        await rename(join(this.dir, r.thumbnail.name), join(this.dir, to)).catch(() => undefined); // the thumbnail is a nicety
    }
    this.logger.info(`moments: ${r.name} kept as ${target}`);
    this.onSegmentRenamed?.(r.name, target);
    return true;
  }

  private async deleteProtected(name: string): Promise<boolean> {
    if (!parseProtectedName(name)) return false;
    const stem = name.replace(/\.mkv$/, '');
    let ok = false;
    try {
      await unlink(join(this.dir, name));
      ok = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const n of await readdir(this.dir).catch(() => [] as string[]))
      if (parseThumbnailName(n)?.stem === stem) await unlink(join(this.dir, n)).catch(() => undefined);
    return ok;
  }

  private info(m: Moment, list: readonly RecordingInfo[]): MomentInfo {
    const size = new Map(list.map((r) => [r.name, r.sizeBytes]));
    const pendingSegments = list
      .filter((r) => parseSegmentName(r.name) !== undefined && overlaps(r, m))
      .map((r) => r.name);
    return {
      ...m,
      segments: [...m.segments],
      bytes: m.segments.reduce((n, s) => n + (size.get(s) ?? 0), 0),
      pendingSegments,
      complete: pendingSegments.length === 0 && this.now() > m.toMs,
    };
  }

  private async readFile(): Promise<Moment[]> {
    const path = join(this.dir, MOMENTS_FILE);
    let text: string;
    try {
      const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      try {
        const s = await fh.stat();
        if (!s.isFile() || s.size > MAX_FILE_BYTES) throw new Error('not a regular file of at most 2 MB');
        text = await fh.readFile('utf8');
      } finally {
        await fh.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      return this.setAside(`cannot be read (${(err as Error).message})`);
    }
    try {
      const doc = JSON.parse(text) as { version?: unknown; moments?: unknown };
      if (doc.version !== 1 || !Array.isArray(doc.moments)) throw new Error('not a version 1 moments file');
      const out: Moment[] = [];
      for (const raw of doc.moments.slice(0, MAX_MOMENTS)) {
        const m = validMoment(raw);
        if (m) out.push(m);
        else this.logger.warn(`moments: an invalid entry in ${MOMENTS_FILE} was skipped`);
      }
      return out;
    } catch (err) {
      return this.setAside(`is damaged (${(err as Error).message})`);
    }
  }

  /** A damaged moments file is renamed aside (kept for a human) and the camera starts with none; the protected files stay. */
  private async setAside(why: string): Promise<Moment[]> {
    const aside = `${MOMENTS_FILE}.damaged-${Date.now()}`;
    await rename(join(this.dir, MOMENTS_FILE), join(this.dir, aside)).catch(() => undefined);
    this.logger.error(
      `moments: ${MOMENTS_FILE} ${why}: renamed to ${aside}; protected segments stay protected and listed`,
    );
    return [];
  }

  private async save(): Promise<void> {
    const doc = { version: 1, moments: this.moments };
    await writeFileReplacing(join(this.dir, MOMENTS_FILE), `${JSON.stringify(doc, null, 1)}\n`, '.tmp', {
      durable: true,
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }
}

/** A segment's time span overlaps a moment's window [fromMs, toMs) (a segment being written reaches to "now and on"). */
function overlaps(r: Pick<RecordingInfo, 'startedAtMs' | 'durationMs' | 'inProgress'>, m: Moment): boolean {
  const end = r.inProgress || r.durationMs === null ? Number.POSITIVE_INFINITY : r.startedAtMs + r.durationMs;
  return r.startedAtMs < m.toMs && end > m.fromMs;
}

function byStart(a: string, b: string): number {
  return (
    (parseProtectedName(a)?.startUnixSeconds ?? 0) - (parseProtectedName(b)?.startUnixSeconds ?? 0) || (a < b ? -1 : 1)
  );
}

/** A note: optional, a string of at most MAX_NOTE_LENGTH characters without control characters. */
export function checkNote(note: unknown): string | null {
  if (note === undefined || note === null) return null;
  if (typeof note !== 'string') throw new RearviewError('ERR_API_BAD_REQUEST', 'note: expected a string');
  const t = note.trim();
  if (t.length > MAX_NOTE_LENGTH)
    throw new RearviewError('ERR_API_BAD_REQUEST', `note: at most ${MAX_NOTE_LENGTH} characters, got ${t.length}`);
  if (CONTROL_RE.test(t)) throw new RearviewError('ERR_API_BAD_REQUEST', 'note: control characters are not allowed');
  return t === '' ? null : t;
}

function validMoment(raw: unknown): Moment | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  if (typeof r.id !== 'string' || !ID_RE.test(r.id)) return undefined;
  if (!num(r.atMs) || !num(r.fromMs) || !num(r.toMs) || r.fromMs > r.toMs) return undefined;
  let note: string | null;
  try {
    note = checkNote(r.note);
  } catch {
    return undefined;
  }
  const source = r.source === 'button' || r.source === 'page' ? r.source : 'api';
  const segments = Array.isArray(r.segments)
    ? r.segments.filter((s): s is string => typeof s === 'string' && parseProtectedName(s) !== undefined)
    : [];
  return {
    id: r.id,
    atMs: r.atMs,
    fromMs: r.fromMs,
    toMs: r.toMs,
    note,
    source,
    clockSet: r.clockSet !== false,
    segments,
  };
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}
