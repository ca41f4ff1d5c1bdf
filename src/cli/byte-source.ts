/**
 * Opens what a command names as its input (`tcp://host[:port]`, a file path,
 * or `-` for standard input) as an async iterable of byte chunks. Connection
 * and file problems become a CliError (one line, documented exit code). TCP
 * goes through the client library's ReconnectingTcpReader, so `nalu` and
 * `connect()` parse addresses, retry and word failures the same way; with
 * `retry`, a TCP source that cannot connect or drops is reconnected until the
 * caller aborts.
 */
import { createReadStream, fstatSync, statSync } from 'node:fs';
import { open, readFile as readWholeFile } from 'node:fs/promises';
import { RearviewError } from '../errors.js';
import { demuxH264Container, detectMediaFileKind } from '../sources/demux-h264-container.js';
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
  /** Read size for files in bytes (default 1 MiB). */
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
    return { name: tcp.url, live: true, [Symbol.asyncIterator]: () => readTcp(tcp, options)[Symbol.asyncIterator]() };
  if (spec === '-')
    return {
      name: 'stdin',
      live: stdinIsLive(),
      [Symbol.asyncIterator]: () => readStdin(options)[Symbol.asyncIterator](),
    };
  return { name: spec, live: false, [Symbol.asyncIterator]: () => readFile(spec, options)[Symbol.asyncIterator]() };
}

function stdinIsLive(): boolean {
  try {
    return !fstatSync(0).isFile();
  } catch {
    return true;
  }
}

async function* readFile(path: string, options: ByteSourceOptions): AsyncGenerator<Uint8Array> {
  try {
    if (statSync(path).isDirectory()) throw new CliError(`cannot read ${path}: is a directory`, ExitCode.IO);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`cannot read ${path}: ${describeFsError(err)}`, ExitCode.IO);
  }
  if (await isContainerFile(path)) {
    yield* readContainer(path);
    return;
  }
  const stream = createReadStream(path, { highWaterMark: options.fileChunkBytes ?? 1024 * 1024 });
  yield* readStream(
    stream,
    options.signal,
    (err) => new CliError(`cannot read ${path}: ${describeFsError(err)}`, ExitCode.IO),
  );
}

/** True when the file begins like MP4 or Matroska (by content, never by name). */
async function isContainerFile(path: string): Promise<boolean> {
  let head: Uint8Array;
  try {
    const fh = await open(path, 'r');
    try {
      const buf = new Uint8Array(64);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      head = buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new CliError(`cannot read ${path}: ${describeFsError(err)}`, ExitCode.IO);
  }
  const kind = detectMediaFileKind(head);
  return kind === 'mp4' || kind === 'matroska';
}

/** The H.264 track of an MP4/Matroska file as Annex-B, one access unit per chunk. */
async function* readContainer(path: string): AsyncGenerator<Uint8Array> {
  let track: Awaited<ReturnType<typeof demuxH264Container>>;
  try {
    track = await demuxH264Container(await readWholeFile(path), path);
  } catch (err) {
    // A container without a usable H.264 track is "not an H.264 stream", like Annex-B garbage.
    if (err instanceof RearviewError) throw new CliError(err.message, ExitCode.BAD_STREAM);
    throw new CliError(`cannot read ${path}: ${describeFsError(err)}`, ExitCode.IO);
  }
  for (const au of track.accessUnits) yield au.annexB;
}

async function* readStdin(options: ByteSourceOptions): AsyncGenerator<Uint8Array> {
  yield* readStream(
    process.stdin,
    options.signal,
    (err) => new CliError(`cannot read standard input: ${describeFsError(err)}`, ExitCode.IO),
  );
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
