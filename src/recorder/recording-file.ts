/**
 * Opening files in the recordings folder when anything in that folder may be
 * hostile (planted by whoever can write to the card or the folder): every
 * file is opened once, without following a symbolic link, and the opened
 * descriptor is checked (a regular file, one link, on the folder's device)
 * before a byte is read. Everything after that reads the descriptor, never
 * the path again, so swapping the file for a link after the check changes
 * nothing. A FIFO is opened non-blocking and refused, so it cannot hang a
 * request.
 *
 * The recordings folder itself may be a symlink (the user chose it); a
 * subfolder we create (the MP4 cache) must be a real folder owned by us,
 * private (0700), and is addressed through its open descriptor
 * (`/proc/self/fd/N/name` on Linux), so replacing it with a link to another
 * folder during a conversion cannot redirect a write or a delete.
 */
import { constants, createReadStream, existsSync, type Stats } from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { RearviewError } from '../errors.js';

/** An inclusive byte range, as in an HTTP Range header (`bytes=start-end`). */
export interface ByteRange {
  start: number;
  end: number;
}

/** Flags for reading a file we did not create: never follow a link, never block on a FIFO or a device. */
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
/** Flags for creating a temporary file: it must be new (a planted link or file makes it fail). */
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** True where `/proc/self/fd/N/name` reaches a name through an open folder (Linux). */
const PROC_FD = existsSync('/proc/self/fd');

/**
 * A path that reopens `handle`'s file (the same inode, whatever the folder
 * holds now), usable by this process and its children: `/proc/PID/fd/N`.
 * Undefined where there is no /proc (then callers fall back to the path).
 */
export function descriptorPath(handle: FileHandle): string | undefined {
  return PROC_FD ? `/proc/${process.pid}/fd/${handle.fd}` : undefined;
}

/** A file of the recordings folder, opened and checked; read it only through `handle`. */
export class RecordingFile {
  private refs = 1;
  private closing: Promise<void> | undefined;

  constructor(
    /** Bare name, `log0001.mkv`. */
    readonly name: string,
    /** Absolute path as named (for messages; never opened again). */
    readonly path: string,
    readonly handle: FileHandle,
    /** fstat of the descriptor when opened. */
    readonly stats: Stats,
  ) {}

  /** Size when opened (a segment being recorded is served up to this much). */
  get size(): number {
    return this.stats.size;
  }

  /** The bytes, whole (up to the size when opened) or an inclusive range. The stream never closes the descriptor. */
  stream(range?: ByteRange): Readable {
    const start = range?.start ?? 0;
    const end = range?.end ?? this.size - 1;
    if (end < start) return Readable.from([]);
    return createReadStream('', { fd: this.handle, autoClose: false, start, end, highWaterMark: 64 * 1024 });
  }

  /** One more user of the descriptor (a conversion that may outlive the request); call the result once when done. */
  retain(): () => Promise<void> {
    this.refs++;
    let released = false;
    return () => {
      if (released) return Promise.resolve();
      released = true;
      return this.release();
    };
  }

  /** Gives up the opener's reference; the descriptor closes when the last user is done. Idempotent. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = this.release();
    return this.closing;
  }

  private async release(): Promise<void> {
    if (--this.refs === 0) await this.handle.close().catch(() => undefined); // read-only folder handle: nothing to lose
  }
}

/** What a file must be, besides a regular file with one link. */
export interface FileExpectation {
  /** Device of the folder it must live on. */
  dev: number;
  /** The inode we created it with (a file we wrote ourselves), when known. */
  ino?: number;
  /** Its owner must be this uid (files in our private folders). */
  uid?: number;
}

/**
 * Opens `name` in `dir` (or through a {@link PrivateFolder}'s `ref`) for
 * reading and checks the descriptor. Throws RearviewError:
 * - ERR_NOT_FOUND: no such file, or not a regular file (folder, FIFO, device, socket);
 * - ERR_PATH_OUTSIDE: a symbolic link, a hard link (more than one name:
 *   it may be a file from elsewhere on the card), another device, or not
 *   the inode/owner expected.
 */
export async function openRecordingFile(
  dir: string,
  name: string,
  expect?: FileExpectation,
  at?: string,
): Promise<RecordingFile> {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new RearviewError('ERR_PATH_OUTSIDE', `refused ${JSON.stringify(name)}: a bare file name is expected`);
  }
  const path = join(dir, name);
  const dev = expect?.dev ?? (await stat(dir)).dev;
  let handle: FileHandle;
  try {
    handle = await open(at ?? path, READ_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new RearviewError('ERR_NOT_FOUND', `no recording named ${name}`);
    if (code === 'ELOOP') throw new RearviewError('ERR_PATH_OUTSIDE', `refused ${name}: a symbolic link`);
    if (code === 'ENXIO' || code === 'ENODEV' || code === 'EACCES' || code === 'EPERM')
      throw new RearviewError('ERR_NOT_FOUND', `${name} cannot be opened (${code})`);
    throw err;
  }
  try {
    const s = await handle.stat();
    if (!s.isFile()) throw new RearviewError('ERR_NOT_FOUND', `${name} is not a regular file`);
    if (s.nlink !== 1)
      throw new RearviewError('ERR_PATH_OUTSIDE', `refused ${name}: it has ${s.nlink} names (a hard link)`);
    if (s.dev !== dev)
      throw new RearviewError('ERR_PATH_OUTSIDE', `refused ${name}: not on the recordings folder's filesystem`);
    if (expect?.ino !== undefined && s.ino !== expect.ino)
      throw new RearviewError('ERR_PATH_OUTSIDE', `refused ${name}: not the file written here`);
    if (expect?.uid !== undefined && s.uid !== expect.uid)
      throw new RearviewError('ERR_PATH_OUTSIDE', `refused ${name}: owned by another user`);
    return new RecordingFile(name, path, handle, s);
  } catch (err) {
    await handle.close().catch(() => undefined); // refused before use: the refusal is what is reported
    throw err;
  }
}

/** An unpredictable suffix for temporary names (a planted link at a guessed name cannot be hit). */
export function randomSuffix(): string {
  return randomBytes(8).toString('hex');
}

/**
 * Creates a new file exclusively (never through a link, never over an
 * existing file), for writing. `at` addresses it through a PrivateFolder.
 */
export function createExclusive(path: string, mode = 0o644): Promise<FileHandle> {
  return open(path, CREATE_FLAGS, mode);
}

/**
 * Writes `data` to `path` atomically without trusting the folder: a new
 * temporary file under an unpredictable name, created exclusively, then
 * renamed over `path` (rename replaces a planted link itself, never its target).
 */
export async function writeFileReplacing(
  path: string,
  data: string | Uint8Array,
  suffix = '.tmp',
  options: { durable?: boolean } = {},
): Promise<void> {
  const tmp = `${path}.${randomSuffix()}${suffix}`;
  const fh = await createExclusive(tmp);
  try {
    await fh.writeFile(data);
    // durable: the bytes reach the card before the rename makes them current, so a power cut leaves the old file or the new one, never an empty one.
    if (options.durable) await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined); // failing already: the write error is what is reported
    await unlink(tmp).catch(() => undefined); // best effort: the start-up sweep removes a leftover temp file
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined); // best effort: the start-up sweep removes a leftover temp file
    throw err;
  }
  if (options.durable) await syncFolder(dirname(path));
}

/** fsync of a folder: makes a rename in it survive a power cut. Best effort where folders cannot be opened. */
export async function syncFolder(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    await fh.sync();
  } catch {
    // not supported here (some filesystems refuse fsync on a folder): the file itself was synced
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** A private subfolder (the MP4 cache), opened and checked; see the file comment. */
export interface PrivateFolder {
  readonly path: string;
  /** Device of the folder. */
  readonly dev: number;
  /** A path to `name` inside this very folder (through its descriptor where /proc exists). */
  ref(name: string): string;
  /** The names in the folder. */
  list(): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * Opens the subfolder `path` of a folder on device `dev`, creating it 0700
 * when missing. Throws RearviewError ERR_PATH_OUTSIDE when it is a link, not
 * a folder, owned by someone else, or on another filesystem; a folder of
 * ours with wider permissions is made private again.
 */
export async function openPrivateFolder(
  path: string,
  dev: number,
  options: { create?: boolean } = {},
): Promise<PrivateFolder> {
  if (options.create !== false) {
    await mkdir(path, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR')
      throw new RearviewError('ERR_PATH_OUTSIDE', `${basename(path)} is not a real folder (a link or a file): refused`);
    if (code === 'ENOENT') throw new RearviewError('ERR_NOT_FOUND', `no folder ${basename(path)}`);
    throw err;
  }
  try {
    const s = await handle.stat();
    const uid = process.getuid?.();
    if (!s.isDirectory()) throw new RearviewError('ERR_PATH_OUTSIDE', `${basename(path)} is not a folder: refused`);
    if (s.dev !== dev)
      throw new RearviewError(
        'ERR_PATH_OUTSIDE',
        `${basename(path)} is on another filesystem (a mount or a link): refused`,
      );
    if (uid !== undefined && s.uid !== uid)
      throw new RearviewError('ERR_PATH_OUTSIDE', `${basename(path)} belongs to another user: refused`);
    if ((s.mode & 0o077) !== 0) await handle.chmod(0o700);
  } catch (err) {
    await handle.close().catch(() => undefined); // refused before use: the refusal is what is reported
    throw err;
  }
  const fd = handle.fd;
  return {
    path,
    dev,
    ref: (name) => {
      if (name === '' || name === '.' || name === '..' || name.includes('/'))
        throw new RearviewError('ERR_PATH_OUTSIDE', `refused ${JSON.stringify(name)}: a bare file name is expected`);
      return PROC_FD ? `/proc/self/fd/${fd}/${name}` : join(path, name);
    },
    list: () => readdir(PROC_FD ? `/proc/self/fd/${fd}` : path),
    close: () => handle.close().catch(() => undefined), // read-only: a failed close loses nothing
  };
}
