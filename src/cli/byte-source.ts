/**
 * Opens what a command names as its input (`tcp://host:port`, a file path,
 * or `-` for standard input) as an async iterable of byte chunks. Connection
 * and file problems become a CliError (one line, documented exit code); with
 * `retry`, a TCP source that cannot connect or drops is reconnected until the
 * caller aborts.
 */
import { createReadStream, fstatSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { CliError, ExitCode } from './exit-codes.js';

/** Options of {@link openByteSource}. */
export interface ByteSourceOptions {
  /** Reconnect a TCP source that refuses, fails or drops (default false: those are errors). */
  retry?: boolean;
  /** Wait between reconnect attempts in ms (default 1000). */
  retryDelayMs?: number;
  /** TCP connect timeout in ms (default 10 000). */
  connectTimeoutMs?: number;
  /** Ends the iteration (normally, without error) when aborted. */
  signal?: AbortSignal;
  /**
   * Called when a TCP source lost its connection and is about to reconnect
   * (with `retry`): what follows is a new stream, so parsers should flush.
   * `reason` is one line for the user.
   */
  onDisconnect?: (reason: string) => void;
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

/** A parsed `tcp://host:port`. */
export interface TcpAddress {
  host: string;
  port: number;
}

/** Parses `tcp://host:port` (IPv6 as `tcp://[::1]:5000`); undefined for anything else. Throws CliError (USAGE) for a tcp:// URL without a valid port. */
export function parseTcpAddress(spec: string): TcpAddress | undefined {
  if (!/^tcp:\/\//i.test(spec)) return undefined;
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw new CliError(`invalid address "${spec}" (expected tcp://host:port)`, ExitCode.USAGE);
  }
  const port = Number(url.port);
  if (!url.hostname || !url.port || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new CliError(`invalid address "${spec}" (expected tcp://host:port with a port 1-65535)`, ExitCode.USAGE);
  }
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port };
}

/**
 * Opens `spec` (`tcp://host:port`, a file path, or `-` for standard input).
 * File problems are reported when iteration starts (CliError IO); TCP
 * problems likewise (CliError CONNECT) unless `retry` is set.
 */
export function openByteSource(spec: string, options: ByteSourceOptions = {}): ByteSource {
  const tcp = parseTcpAddress(spec);
  if (tcp) return { name: spec, live: true, [Symbol.asyncIterator]: () => readTcp(spec, tcp, options)[Symbol.asyncIterator]() };
  if (spec === '-') return { name: 'stdin', live: stdinIsLive(), [Symbol.asyncIterator]: () => readStdin(options)[Symbol.asyncIterator]() };
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
  const stream = createReadStream(path, { highWaterMark: options.fileChunkBytes ?? 1024 * 1024 });
  yield* readStream(stream, options.signal, (err) => new CliError(`cannot read ${path}: ${describeFsError(err)}`, ExitCode.IO));
}

async function* readStdin(options: ByteSourceOptions): AsyncGenerator<Uint8Array> {
  yield* readStream(process.stdin, options.signal, (err) => new CliError(`cannot read standard input: ${describeFsError(err)}`, ExitCode.IO));
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

async function* readTcp(spec: string, address: TcpAddress, options: ByteSourceOptions): AsyncGenerator<Uint8Array> {
  const signal = options.signal;
  const retryDelayMs = options.retryDelayMs ?? 1000;
  for (;;) {
    if (signal?.aborted) return;
    let socket: Socket;
    try {
      socket = await connectTcp(spec, address, options.connectTimeoutMs ?? 10_000, signal);
    } catch (err) {
      if (signal?.aborted) return;
      if (!options.retry || !(err instanceof CliError)) throw err;
      options.onDisconnect?.(err.message);
      if (!(await delay(retryDelayMs, signal))) return;
      continue;
    }
    options.onConnect?.(spec);
    let reason = `${spec}: connection closed by the server`;
    try {
      yield* readStream(socket, signal, (err) => new CliError(`${spec}: connection lost: ${describeNetError(err)}`, ExitCode.CONNECT));
    } catch (err) {
      if (!options.retry || !(err instanceof CliError)) throw err;
      reason = err.message;
    }
    if (signal?.aborted || !options.retry) return;
    options.onDisconnect?.(reason);
    if (!(await delay(retryDelayMs, signal))) return;
  }
}

/** Connects, mapping failures to one-line CliErrors (exit code CONNECT). */
function connectTcp(spec: string, address: TcpAddress, timeoutMs: number, signal: AbortSignal | undefined): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address.host, port: address.port, noDelay: true });
    const timer = setTimeout(() => fail(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })), timeoutMs);
    const onAbort = (): void => fail(new Error('aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeListener('error', fail);
      socket.removeListener('connect', ok);
    };
    function ok(): void {
      done();
      // Errors are taken from the stream's iterator; this keeps one raised before
      // iteration starts from becoming an uncaught exception.
      socket.on('error', () => {});
      resolve(socket);
    }
    function fail(err: unknown): void {
      done();
      socket.destroy();
      reject(new CliError(`cannot connect to ${spec}: ${describeNetError(err)}`, ExitCode.CONNECT));
    }
    socket.once('connect', ok);
    socket.once('error', fail);
  });
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function delay(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/** Short human text for a socket error. */
export function describeNetError(err: unknown): string {
  switch (errorCode(err)) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_NONAME':
      return 'unknown host';
    case 'EAI_AGAIN':
      return 'host name lookup failed (temporary DNS failure)';
    case 'ETIMEDOUT':
      return 'timed out';
    case 'ECONNRESET':
      return 'connection reset by the server';
    case 'EHOSTUNREACH':
      return 'host unreachable';
    case 'ENETUNREACH':
      return 'network unreachable';
    default:
      return err instanceof Error ? err.message : String(err);
  }
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
