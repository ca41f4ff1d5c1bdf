/**
 * MKV -> MP4 conversions run in child processes (convert-worker.js), at
 * most `maxWorkers` at once, the rest queued in arrival order.
 *
 * Why: a conversion in the daemon's own heap left garbage the daemon kept
 * (10 concurrent downloads grew the daemon by about 230 MB, most of a Pi
 * Zero 2W's 512 MB). In a child with a small V8 heap the memory of a
 * conversion is bounded, never counts against the daemon, and goes back to
 * the OS when the idle child exits. Workers are reused while downloads keep
 * coming (Node start-up and module loading, about 0.1-0.3 s, are paid once)
 * and exit after `idleMs` without work.
 *
 * Same contract as convertMkvToMp4: `convert(path, write, { limitBytes })`
 * hands the MP4 to `write` chunk by chunk in order (awaited: the child is
 * paused meanwhile, so memory stays flat) and resolves with the result or
 * rejects with RearviewError ERR_CONVERT / ERR_NOT_FOUND.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RearviewError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';
import type { ConvertJobMessage, ConvertReplyMessage } from './convert-worker.js';
import type { ConversionResult } from './conversion-result.js';

/** Options of {@link ConvertPool}. */
export interface ConvertPoolOptions {
  /** Conversions running at once (one child each). Default 2 (the Pi Zero 2W has 4 cores and 512 MB). */
  maxWorkers?: number;
  /** An idle child exits after this long, ms. Default 30 000. */
  idleMs?: number;
  /**
   * Conversions allowed to wait for a child; one more is refused at once with
   * ERR_CONVERT_BUSY (HTTP 503), so clients that start and abort many downloads
   * cannot pile up work and open files. Default 16.
   */
  maxQueued?: number;
  /** V8 flags of the children. Default a 64 MB old space, 1 MB semi-spaces and --expose-gc (a minor GC per fragment): the lowest peak RSS measured. */
  execArgv?: string[];
  logger?: Logger;
}

interface Job {
  mkvPath: string;
  limitBytes: number | undefined;
  write: (chunk: Uint8Array) => Promise<void>;
  resolve: (r: ConversionResult) => void;
  reject: (err: Error) => void;
}

interface Worker {
  child: ChildProcess;
  job: Job | undefined;
  idleTimer: NodeJS.Timeout | undefined;
  /** Bytes of the current job received on stdout. */
  received: number;
  /** The reply, once it arrived (its stdout bytes may still be in flight). */
  reply: ConvertReplyMessage | undefined;
  /** Writes of the current job, chained in order. */
  writing: Promise<void>;
  writeError: Error | undefined;
  /** Chunks handed to the job's write and not settled yet. */
  pending: number;
}

/** Pipe reads waiting for the consumer before the child is paused. */
const PENDING_CHUNKS = 16;
const WORKER_PATH = fileURLToPath(new URL('./convert-worker.js', import.meta.url));
/** Measured on 60 s and 10 min 8 Mbit/s segments: peak RSS ~100 MB without these, under 80 MB with them. */
const DEFAULT_EXEC_ARGV = ['--max-old-space-size=64', '--max-semi-space-size=1', '--expose-gc'];

/** Runs conversions in a bounded pool of child processes; see the file comment. */
export class ConvertPool {
  private readonly maxWorkers: number;
  private readonly idleMs: number;
  private readonly maxQueued: number;
  private readonly execArgv: string[];
  private readonly logger: Logger;
  private readonly workers = new Set<Worker>();
  private readonly queue: Job[] = [];
  private closed = false;
  /** Children started since creation (tests check reuse). */
  spawned = 0;

  constructor(options: ConvertPoolOptions = {}) {
    this.maxWorkers = Math.max(1, options.maxWorkers ?? 2);
    this.idleMs = options.idleMs ?? 30_000;
    this.maxQueued = Math.max(0, options.maxQueued ?? 16);
    this.execArgv = options.execArgv ?? DEFAULT_EXEC_ARGV;
    this.logger = options.logger ?? silentLogger;
  }

  /** Conversions waiting for a free worker. */
  get queued(): number {
    return this.queue.length;
  }

  /** Process ids of the live children (benchmarks read their peak RSS). */
  get pids(): number[] {
    return [...this.workers].map((w) => w.child.pid).filter((p): p is number => p !== undefined);
  }

  /** Live children (busy or idle). */
  get workerCount(): number {
    return this.workers.size;
  }

  /** Converts `mkvPath` in a child; see the file comment. */
  convert(
    mkvPath: string,
    write: (chunk: Uint8Array) => Promise<void>,
    options: { limitBytes?: number } = {},
  ): Promise<ConversionResult> {
    if (this.closed) return Promise.reject(new RearviewError('ERR_CONVERT', 'the MP4 converter is closed'));
    const allBusy = [...this.workers].filter((w) => !w.job).length === 0 && this.workers.size >= this.maxWorkers;
    if (allBusy && this.queue.length >= this.maxQueued) {
      return Promise.reject(
        new RearviewError(
          'ERR_CONVERT_BUSY',
          `too many MP4 conversions waiting (${this.queue.length}); try again later`,
        ),
      );
    }
    return new Promise<ConversionResult>((resolve, reject) => {
      this.queue.push({ mkvPath, limitBytes: options.limitBytes, write, resolve, reject });
      this.dispatch();
    });
  }

  /** Kills every child; running and queued conversions reject with ERR_CONVERT. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new RearviewError('ERR_CONVERT', 'the MP4 converter closed'));
    const exits = [...this.workers].map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.child.exitCode !== null || w.child.signalCode !== null) resolve();
          else {
            // An idle child is unref'd: ref it again, or nothing keeps the loop alive until its exit (the await would never end).
            this.setRef(w, true);
            if (w.idleTimer) clearTimeout(w.idleTimer);
            w.child.once('exit', () => resolve());
            w.child.kill('SIGKILL');
          }
        }),
    );
    await Promise.all(exits);
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let worker = [...this.workers].find((w) => !w.job);
      if (!worker) {
        if (this.workers.size >= this.maxWorkers) return;
        worker = this.spawn();
      }
      this.start(worker, this.queue.shift() as Job);
    }
  }

  private spawn(): Worker {
    this.spawned++;
    const child = fork(WORKER_PATH, [], {
      execArgv: this.execArgv,
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      serialization: 'json',
    });
    const w: Worker = {
      child,
      job: undefined,
      idleTimer: undefined,
      received: 0,
      reply: undefined,
      writing: Promise.resolve(),
      writeError: undefined,
      pending: 0,
    };
    this.workers.add(w);
    child.stdout?.on('data', (chunk: Buffer) => this.onData(w, chunk));
    child.on('message', (msg: ConvertReplyMessage) => {
      w.reply = msg;
      this.maybeFinish(w);
    });
    child.on('error', (err) => this.logger.warn(`MP4 converter process: ${err.message}`));
    child.on('exit', (code, signal) => {
      this.workers.delete(w);
      if (w.idleTimer) clearTimeout(w.idleTimer);
      const job = w.job;
      w.job = undefined;
      if (job)
        job.reject(
          new RearviewError(
            'ERR_CONVERT',
            `converting ${job.mkvPath.split('/').pop()} failed: converter process ended (${signal ?? `code ${code}`})`,
          ),
        );
      if (!this.closed) this.dispatch();
    });
    return w;
  }

  private start(w: Worker, job: Job): void {
    if (w.idleTimer) clearTimeout(w.idleTimer);
    w.idleTimer = undefined;
    w.job = job;
    w.received = 0;
    w.reply = undefined;
    w.writing = Promise.resolve();
    w.writeError = undefined;
    w.pending = 0;
    this.setRef(w, true);
    const msg: ConvertJobMessage = {
      type: 'convert',
      mkvPath: job.mkvPath,
      ...(job.limitBytes === undefined ? {} : { limitBytes: job.limitBytes }),
    };
    w.child.send(msg);
  }

  private onData(w: Worker, chunk: Buffer): void {
    const job = w.job;
    if (!job) return; // cannot happen: the child writes only for a job
    w.received += chunk.length;
    const stdout = w.child.stdout;
    // Pause the child's pipe while the consumer is more than a few chunks behind: backpressure reaches the
    // converter, and at most PENDING_CHUNKS pipe reads (64 KB each) wait here. (Pausing on every chunk
    // measured about 2x slower.)
    w.pending++;
    if (w.pending >= PENDING_CHUNKS) stdout?.pause();
    const settled = (): void => {
      w.pending--;
      if (w.job === job && w.pending < PENDING_CHUNKS) stdout?.resume();
      this.maybeFinish(w);
    };
    w.writing = w.writing
      .then(() => (w.writeError ? undefined : job.write(chunk)))
      .then(settled, (err: unknown) => {
        w.writeError = err as Error; // keep draining the child so it can finish this job
        settled();
      });
  }

  /** Settles the job once its reply and all its bytes (written) are in. */
  private maybeFinish(w: Worker): void {
    const job = w.job;
    const reply = w.reply;
    if (!job || !reply || w.received < reply.bytes) return;
    void w.writing.then(() => {
      if (w.job !== job) return;
      w.job = undefined;
      if (w.writeError) job.reject(w.writeError);
      else if (reply.type === 'done')
        job.resolve({
          bytes: reply.bytes,
          samples: reply.samples,
          trimmedFragments: reply.trimmedFragments,
          demuxer: reply.demuxer,
        });
      else job.reject(new RearviewError(reply.code as ErrorCode, reply.message));
      this.idle(w);
    });
  }

  private idle(w: Worker): void {
    if (this.closed) return;
    if (this.queue.length > 0) {
      this.start(w, this.queue.shift() as Job);
      return;
    }
    // An idle child must not keep the daemon (or a test) alive.
    this.setRef(w, false);
    w.idleTimer = setTimeout(() => w.child.kill('SIGTERM'), this.idleMs);
    w.idleTimer.unref();
  }

  private setRef(w: Worker, ref: boolean): void {
    const handles = [w.child, w.child.stdout, w.child.channel] as (
      | { ref?: () => void; unref?: () => void }
      | null
      | undefined
    )[];
    for (const h of handles) {
      if (ref) h?.ref?.();
      else h?.unref?.();
    }
  }
}

let shared: ConvertPool | undefined;

/**
 * The process-wide pool (created on first use, default options), so every
 * RecordingLibrary of a process shares one bound on concurrent conversions.
 */
export function sharedConvertPool(): ConvertPool {
  shared ??= new ConvertPool();
  return shared;
}
