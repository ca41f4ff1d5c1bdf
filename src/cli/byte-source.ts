/**
 * Opens what a command names as its input (`tcp://host[:port]`, a file path,
 * or `-` for standard input) as an async iterable of byte chunks. Regular
 * files are read synchronously into one reused buffer (see readRegularFile). Connection
 * and file problems become a CliError (one line, documented exit code). TCP
 * goes through the client library's ReconnectingTcpReader, so `nalu` and
 * `connect()` parse addresses, retry and word failures the same way; with
 * `retry`, a TCP source that cannot connect or drops is reconnected until the
 * caller aborts.
 */
import { closeSync, fstatSync, openSync, read, readFileSync, readSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { RearviewError } from '../errors.js';
import { detectMediaFileKind } from '../sources/detect-media-file-kind.js';
import { ReconnectingTcpReader } from '../client/reconnecting-tcp-reader.js';
import { ConfigError } from '../errors.js';
import { reconnectingText } from '../util/describe-network-error.js';
import { isTcpUrl, parseStreamAddress, type StreamAddress } from '../util/stream-address.js';
import { CliError, ExitCode } from './exit-codes.js';

/** Options of {@link openByteSource}. */
export interface ByteSourceOptions {
  /** Reconnect a TCP source that refuses, fails or drops (default false: those are errors), with the reader's backoff. */
  retry?: boolean;
  /** Ends the iteration (normally, without error) when aborted. */
  signal?: AbortSignal;
  /**
   * Called when a TCP source lost its connection and is about to reconnect
   * (with `retry`): what follows is a new stream, so parsers should flush.
   * `message` is one line for the user ("...: connection refused; reconnecting in 0.3 s").
   */
  onDisconnect?: (message: string) => void;
  /** Called after each successful (re)connection. */
  onConnect?: (address: string) => void;
  /** Read size for files in bytes (default {@link FILE_CHUNK_BYTES}). */
  fileChunkBytes?: number;
}

/** An opened input. Iterate it once. */
export interface ByteSource extends AsyncIterable<Uint8Array> {
  /** What was opened, for messages ("tcp://cam:5000", "stdin", the path). */
  readonly name: string;
  /**
   * True when bytes arrive in real time (TCP, or standard input that is a pipe
   * or socket rather than a redirected regular file), so arrival times mean
   * something.
   */
  readonly live: boolean;
  /**
   * True when a chunk may be a view into a buffer that the next read
   * overwrites (files): a consumer keeps nothing of a chunk past its turn
   * without copying it. False: each chunk is fresh memory (TCP, pipes).
   */
  readonly reusesChunks: boolean;
}

/**
 * The stream address of a `tcp://` spec, undefined for anything else (a file, `-`).
 * Throws CliError (USAGE) for a tcp:// URL the shared parser rejects.
 */
export function parseTcpAddress(spec: string): StreamAddress | undefined {
  if (!isTcpUrl(spec)) return undefined;
  try {
    return parseStreamAddress(spec);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, ExitCode.USAGE);
    throw err;
  }
}

/**
 * Opens `spec` (`tcp://host:port`, a file path, or `-` for standard input).
 * File problems are reported when iteration starts (CliError IO); TCP
 * problems likewise (CliError CONNECT) unless `retry` is set.
 */
export function openByteSource(spec: string, options: ByteSourceOptions = {}): ByteSource {
  const tcp = parseTcpAddress(spec);
  if (tcp)
    return {
      name: tcp.url,
      live: true,
      reusesChunks: false,
      [Symbol.asyncIterator]: () => readTcp(tcp, options)[Symbol.asyncIterator](),
    };
  if (spec === '-') {
    const live = stdinIsLive();
    return {
      name: 'stdin',
      live,
      reusesChunks: !live,
      [Symbol.asyncIterator]: () => readStdin(options, !live)[Symbol.asyncIterator](),
    };
  }
  return {
    name: spec,
    live: false,
    reusesChunks: true,
    [Symbol.asyncIterator]: () => readFile(spec, options)[Symbol.asyncIterator](),
  };
}

function stdinIsLive(): boolean {
  try {
    return !fstatSync(0).isFile();
  } catch {
    return true;
  }
}

async function* readFile(path: string, options: ByteSourceOptions): AsyncGenerator<Uint8Array> {
  const cannotRead = (err: unknown): CliError =>
    new CliError(`cannot read ${path}: ${describeFsError(err)}`, ExitCode.IO);
  // Opened once; everything below (kind, content) is about what was opened.
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw cannotRead(err);
  }
  try {
    let regular: boolean;
    try {
      const stats = fstatSync(fd);
      if (stats.isDirectory()) throw new CliError(`cannot read ${path}: is a directory`, ExitCode.IO);
      regular = stats.isFile();
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw cannotRead(err);
    }
    if (isContainerHead(readHead(fd, cannotRead))) {
      yield* readContainer(fd, path);
      return;
    }
    if (regular) yield* readRegularFile(fd, options, cannotRead);
    else yield* readDevice(fd, options, cannotRead);
  } finally {
    closeSync(fd);
  }
}

/** The first 64 bytes of the file (fewer when it is shorter). */
function readHead(fd: number, mapError: (err: unknown) => Error): Uint8Array {
  const head = new Uint8Array(64);
  try {
    return head.subarray(0, readSync(fd, head, 0, head.length, 0));
  } catch (err) {
    throw mapError(err);
  }
}

/** True when the file begins like MP4 or Matroska (by content, never by name). */
function isContainerHead(head: Uint8Array): boolean {
  const kind = detectMediaFileKind(head);
  return kind === 'mp4' || kind === 'matroska';
}

/**
 * Read size for regular files: 1 MiB. Larger reads were measured slower, not
 * faster: a chunk that still fits in the CPU's cache when the parser scans it
 * (read and scan touch each byte once each) beats fewer system calls.
 */
export const FILE_CHUNK_BYTES = 1024 * 1024;

/** Longest the event loop waits while a regular file is read and parsed without a pause. */
export const FILE_TURN_MS = 20;

/**
 * Reads a regular file (or standard input redirected from one) from its
 * current position to the end with synchronous reads into one buffer that
 * every read reuses (fresh memory per read would cost a page fault per
 * 4 KiB, more than the read itself). Synchronous, because a read from the
 * page cache takes far less time than a trip through the thread pool and
 * back (measured: the asynchronous reads left the parser waiting for most of
 * the run on a busy machine). The event loop still gets a turn at least every
 * {@link FILE_TURN_MS} (Ctrl-C, --duration, output backpressure, errors);
 * between turns the consumer's work on each chunk runs in the same task.
 * Each chunk is a view into the buffer, valid until the next chunk is asked
 * for (that read overwrites it); a consumer copies what it keeps.
 */
async function* readRegularFile(
  fd: number,
  options: ByteSourceOptions,
  mapError: (err: unknown) => Error,
): AsyncGenerator<Uint8Array> {
  const signal = options.signal;
  const size = options.fileChunkBytes ?? FILE_CHUNK_BYTES;
  // A plain Uint8Array: the parser's views into it (subarray) are cheaper than a Buffer's.
  const buffer = new Uint8Array(size);
  let turnAt = performance.now() + FILE_TURN_MS;
  for (;;) {
    let bytesRead: number;
    try {
      bytesRead = readSync(fd, buffer, 0, size, null);
    } catch (err) {
      throw mapError(err);
    }
    if (bytesRead === 0 || signal?.aborted) return;
    yield buffer.subarray(0, bytesRead);
    if (performance.now() >= turnAt) {
      await new Promise(setImmediate);
      turnAt = performance.now() + FILE_TURN_MS;
    }
  }
}

/**
 * Reads what is neither a regular file nor a directory (a character device)
 * on the thread pool, one read at a time into one reused buffer: such a read
 * may wait for data indefinitely, which must never block the event loop.
 */
async function* readDevice(
  fd: number,
  options: ByteSourceOptions,
  mapError: (err: unknown) => Error,
): AsyncGenerator<Uint8Array> {
  const signal = options.signal;
  const size = options.fileChunkBytes ?? FILE_CHUNK_BYTES;
  const buffer = Buffer.allocUnsafeSlow(size);
  for (;;) {
    const bytesRead = await new Promise<number>((resolve, reject) => {
      read(fd, buffer, 0, size, null, (err, n) => (err ? reject(mapError(err)) : resolve(n)));
    });
    if (bytesRead === 0 || signal?.aborted) return;
    yield buffer.subarray(0, bytesRead);
  }
}

/** The H.264 track of an MP4/Matroska file as Annex-B, one access unit per chunk. */
async function* readContainer(fd: number, path: string): AsyncGenerator<Uint8Array> {
  // Loaded only for containers: the demuxer's library is most of nalu's start-up otherwise.
  const { demuxH264Container } = await import('../sources/demux-h264-container.js');
  let track: Awaited<ReturnType<typeof demuxH264Container>>;
  try {
    track = await demuxH264Container(readFileSync(fd), path);
  } catch (err) {
    // A container without a usable H.264 track is "not an H.264 stream", like Annex-B garbage.
    if (err instanceof RearviewError) throw new CliError(err.message, ExitCode.BAD_STREAM);
    throw new CliError(`cannot read ${path}: ${describeFsError(err)}`, ExitCode.IO);
  }
  for (const au of track.accessUnits) yield au.annexB;
}

async function* readStdin(options: ByteSourceOptions, regularFile: boolean): AsyncGenerator<Uint8Array> {
  const mapError = (err: unknown): CliError =>
    new CliError(`cannot read standard input: ${describeFsError(err)}`, ExitCode.IO);
  if (regularFile) yield* readRegularFile(0, options, mapError);
  else yield* readStream(process.stdin, options.signal, mapError);
}

/** Iterates a readable stream until it ends, the signal aborts, or it fails (mapped through `mapError`). */
async function* readStream(
  stream: NodeJS.ReadableStream & { destroy?: (error?: Error) => void },
  signal: AbortSignal | undefined,
  mapError: (err: unknown) => Error,
): AsyncGenerator<Uint8Array> {
  if (signal?.aborted) return;
  const onAbort = (): void => stream.destroy?.();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of stream) {
      if (signal?.aborted) return;
      yield chunk as Uint8Array;
    }
  } catch (err) {
    if (signal?.aborted) return;
    throw mapError(err);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    stream.destroy?.();
  }
}

/** Most chunks queued for a consumer that is busy before the socket is paused. */
const MAX_QUEUED_CHUNKS = 64;

/** A queued item: bytes, or the marker that the connection ended and a new one is on its way. */
type TcpItem = Uint8Array | { reconnecting: string };

async function* readTcp(address: StreamAddress, options: ByteSourceOptions): AsyncGenerator<Uint8Array> {
  const signal = options.signal;
  if (signal?.aborted) return;
  const queue: TcpItem[] = [];
  let head = 0;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  let closed = false;
  let gotBytes = false;
  // Without retry, a clean end from the server is the end of the input, not a failure.
  let cleanEnd = false;
  const reader = new ReconnectingTcpReader(
    address,
    { reconnect: options.retry === true, ...(signal ? { signal } : {}) },
    {
      onData: (chunk) => {
        if (!gotBytes) {
          gotBytes = true;
          reader.connectionWorks();
        }
        queue.push(chunk);
        if (queue.length - head >= MAX_QUEUED_CHUNKS) reader.pause();
        notify();
      },
      onEnd: (clean) => {
        cleanEnd = clean;
      },
      onState: (event) => {
        if (event.state === 'connecting') gotBytes = false;
        else if (event.state === 'connected') options.onConnect?.(event.url);
        else if (event.state === 'reconnecting')
          queue.push({ reconnecting: reconnectingText(event.error?.message ?? event.url, event.delayMs ?? 0) });
        else if (event.state === 'closed') closed = true;
        notify();
      },
    },
  );
  reader.start();
  try {
    for (;;) {
      if (head < queue.length) {
        const item = queue[head] as TcpItem;
        queue[head++] = EMPTY;
        if (head > 1024 && head * 2 > queue.length) {
          queue.splice(0, head);
          head = 0;
        }
        if (queue.length - head < MAX_QUEUED_CHUNKS / 2) reader.resume();
        if (item instanceof Uint8Array) yield item;
        else options.onDisconnect?.(item.reconnecting);
        if (signal?.aborted) return;
        continue;
      }
      if (closed) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
    if (signal?.aborted) return;
    const failure = reader.failure;
    if (failure && !(cleanEnd && options.retry !== true)) throw new CliError(failure.message, ExitCode.CONNECT);
  } finally {
    await reader.close();
  }
}

const EMPTY = new Uint8Array(0);

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/** Short human text for a file-system error. */
export function describeFsError(err: unknown): string {
  switch (errorCode(err)) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}
