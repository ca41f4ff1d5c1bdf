/**
 * MKV -> MP4 conversions run in worker threads (convert-worker.js), at most
 * `maxWorkers` at once, the rest queued in arrival order.
 *
 * Why a worker thread: a conversion in the daemon's own heap left garbage
 * the daemon kept (10 concurrent downloads grew the daemon by about 230 MB),
 * and blocked the live stream's event loop while it ran. A worker has its
 * own V8 heap (capped by resourceLimits, collected per fragment) and its
 * own event loop, and costs an isolate (a few MB), not a second Node
 * process (converter child processes cost 80-110 MB each, measured: about
 * 40 MB of that is Node itself, paid again per child). mediabunny loads in
 * the worker only. Workers are reused while downloads keep coming and exit
 * after `idleMs` without work, handing their memory back.
 *
 * How many at once: one by default, whatever the machine. A conversion runs
 * at a few hundred times real time (0.2-0.3 s per minute of 8 Mbit/s
 * video), so the SD card and the Wi-Fi limit downloads, not the converter,
 * while each worker adds 30-40 MB at its peak (measured): on a Pi Zero 2W
 * (512 MB) a second one buys nothing and costs the most memory.
 *
 * Same contract as convertMkvToMp4: `convert(path, write, { limitBytes, output })`
 * hands the MP4 to `write` chunk by chunk in order (awaited: the worker waits
 * once CHUNK_CREDIT chunks are unwritten, so memory stays flat), or with
 * `output` writes it to that descriptor from the worker, and resolves with
 * the result or rejects with RearviewError ERR_CONVERT / ERR_NOT_FOUND.
 */
import { setFlagsFromString } from 'node:v8';
import { Worker as Thread } from 'node:worker_threads';
import { RearviewError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { keepAfterWorkerStarts } from '../util/young-generation.js';
import { silentLogger } from '../log/logger.js';
import type {
  ConvertAckMessage,
  ConvertCancelMessage,
  ConvertJobMessage,
  ConvertReplyMessage,
} from './convert-worker.js';
import type { ConversionResult, ConvertOutput } from './conversion-result.js';
import type { ClipJob, ClipResult } from './convert-clip-to-mp4.js';

/** Options of {@link ConvertPool}. */
export interface ConvertPoolOptions {
  /** Conversions running at once (one worker thread each). Default 1 (see the file comment). */
  maxWorkers?: number;
  /** An idle worker exits after this long, ms. Default 30 000. */
  idleMs?: number;
  /**
   * Conversions allowed to wait for a worker; one more is refused at once with
   * ERR_CONVERT_BUSY (HTTP 503), so clients that start and abort many downloads
   * cannot pile up work and open files. Default 16.
   */
  maxQueued?: number;
  /** V8 heap limits of a worker. Default: 48 MB old generation, 4 MB young (measured: enough for any segment length). */
  resourceLimits?: { maxOldGenerationSizeMb?: number; maxYoungGenerationSizeMb?: number };
  logger?: Logger;
}

interface Job {
  mkvPath: string;
  limitBytes: number | undefined;
  output: ConvertOutput | undefined;
  clip: ClipJob | undefined;
  onClipStart: ((startMs: number) => void) | undefined;
  write: (chunk: Uint8Array) => Promise<void>;
  resolve: (r: ConversionResult | ClipResult) => void;
  reject: (err: Error) => void;
}

interface Worker {
  thread: Thread;
  job: Job | undefined;
  idleTimer: NodeJS.Timeout | undefined;
  /** Writes of the current job, chained in order. */
  writing: Promise<void>;
  writeError: Error | undefined;
  exited: boolean;
}

const WORKER_URL = new URL('./convert-worker.js', import.meta.url);
const DEFAULT_LIMITS = { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 4 };

let gcExposed = false;
/** The worker collects after each fragment (convert-worker.ts); `gc` exists in isolates created after this flag is set. */
function exposeGcToWorkers(): void {
  if (gcExposed) return;
  gcExposed = true;
  setFlagsFromString('--expose-gc');
}

/** Runs conversions in a bounded pool of worker threads; see the file comment. */
export class ConvertPool {
  private readonly maxWorkers: number;
  private readonly idleMs: number;
  private readonly maxQueued: number;
  private readonly resourceLimits: NonNullable<ConvertPoolOptions['resourceLimits']>;
  private readonly logger: Logger;
  private readonly workers = new Set<Worker>();
  private readonly queue: Job[] = [];
  private closed = false;
  /** Workers started since creation (tests check reuse). */
  spawned = 0;

  constructor(options: ConvertPoolOptions = {}) {
    this.maxWorkers = Math.max(1, options.maxWorkers ?? 1);
    this.idleMs = options.idleMs ?? 30_000;
    this.maxQueued = Math.max(0, options.maxQueued ?? 16);
    this.resourceLimits = options.resourceLimits ?? DEFAULT_LIMITS;
    this.logger = options.logger ?? silentLogger;
  }

  /** Conversions waiting for a free worker. */
  get queued(): number {
    return this.queue.length;
  }

  /** Live workers (busy or idle). */
  get workerCount(): number {
    return this.workers.size;
  }

  /** Converts `mkvPath` in a worker thread; see the file comment. */
  convert(
    mkvPath: string,
    write: (chunk: Uint8Array) => Promise<void>,
    options: { limitBytes?: number; output?: ConvertOutput } = {},
  ): Promise<ConversionResult> {
    return this.enqueue(mkvPath, write, {
      ...options,
      clip: undefined,
      onClipStart: undefined,
    }) as Promise<ConversionResult>;
  }

  /**
   * Exports a clip across segments (convert-clip-to-mp4.ts) in a worker
   * thread, in the same queue and bounds as conversions. `onStart` hears the
   * first frame's capture time before the first chunk is written.
   */
  exportClip(
    clip: ClipJob,
    write: (chunk: Uint8Array) => Promise<void>,
    onStart?: (startMs: number) => void,
    signal?: AbortSignal,
  ): Promise<ClipResult> {
    const run = this.enqueue('clip', write, { clip, onClipStart: onStart }) as Promise<ClipResult>;
    if (!signal) return run;
    // The client left: a queued export leaves the queue, a running one is told to stop.
    const onAbort = (): void => {
      const queued = this.queue.findIndex((j) => j.clip === clip);
      if (queued >= 0) {
        const [job] = this.queue.splice(queued, 1);
        job?.reject(new RearviewError('ERR_ABORTED', 'the clip export was cancelled'));
        return;
      }
      for (const w of this.workers)
        if (w.job?.clip === clip && !w.exited) w.thread.postMessage({ type: 'cancel' } satisfies ConvertCancelMessage);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    return run.finally(() => signal.removeEventListener('abort', onAbort));
  }

  private enqueue(
    mkvPath: string,
    write: (chunk: Uint8Array) => Promise<void>,
    options: {
      limitBytes?: number;
      output?: ConvertOutput;
      clip: ClipJob | undefined;
      onClipStart: ((startMs: number) => void) | undefined;
    },
  ): Promise<ConversionResult | ClipResult> {
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
    return new Promise<ConversionResult | ClipResult>((resolve, reject) => {
      this.queue.push({
        mkvPath,
        limitBytes: options.limitBytes,
        output: options.output,
        clip: options.clip,
        onClipStart: options.onClipStart,
        write,
        resolve,
        reject,
      });
      this.dispatch();
    });
  }

  /**
   * Ends every worker now, as a crash would: running conversions reject with
   * ERR_CONVERT, queued ones start in new workers. For tests and for a
   * conversion that must stop at once.
   */
  async terminateWorkers(): Promise<void> {
    await Promise.all([...this.workers].map((w) => w.thread.terminate()));
  }

  /** Ends every worker; running and queued conversions reject with ERR_CONVERT. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new RearviewError('ERR_CONVERT', 'the MP4 converter closed'));
    await Promise.all(
      [...this.workers].map((w) => {
        if (w.idleTimer) clearTimeout(w.idleTimer);
        return w.thread.terminate();
      }),
    );
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
    exposeGcToWorkers();
    const thread = new Thread(WORKER_URL, { resourceLimits: this.resourceLimits, stdout: false, stderr: false });
    keepAfterWorkerStarts(thread);
    const w: Worker = {
      thread,
      job: undefined,
      idleTimer: undefined,
      writing: Promise.resolve(),
      writeError: undefined,
      exited: false,
    };
    this.workers.add(w);
    thread.on('message', (msg: ConvertReplyMessage) => this.onMessage(w, msg));
    thread.on('error', (err) => this.logger.warn(`MP4 converter thread: ${err.message}`));
    thread.on('exit', (code) => {
      w.exited = true;
      this.workers.delete(w);
      if (w.idleTimer) clearTimeout(w.idleTimer);
      const job = w.job;
      w.job = undefined;
      if (job)
        job.reject(
          new RearviewError(
            'ERR_CONVERT',
            `converting ${job.mkvPath.split('/').pop()} failed: the converter thread ended (code ${code})`,
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
    w.writing = Promise.resolve();
    w.writeError = undefined;
    w.thread.ref();
    const msg: ConvertJobMessage = {
      type: 'convert',
      mkvPath: job.mkvPath,
      ...(job.limitBytes === undefined ? {} : { limitBytes: job.limitBytes }),
      ...(job.output ? { outputFd: job.output.fd } : {}),
      ...(job.clip ? { clip: job.clip } : {}),
    };
    w.thread.postMessage(msg);
  }

  private onMessage(w: Worker, msg: ConvertReplyMessage): void {
    const job = w.job;
    if (!job) return; // cannot happen: the worker posts only for a job
    if (msg.type === 'written') {
      job.output?.progress(msg.bytes);
      return;
    }
    if (msg.type === 'clip-start') {
      // Ordered before the first chunk's write: the chain runs it in turn.
      w.writing = w.writing.then(() => job.onClipStart?.(msg.startMs));
      return;
    }
    if (msg.type === 'chunk') {
      const chunk = new Uint8Array(msg.data);
      const ack = (): void => {
        if (!w.exited) w.thread.postMessage({ type: 'ack' } satisfies ConvertAckMessage);
      };
      w.writing = w.writing
        .then(() => (w.writeError ? undefined : job.write(chunk)))
        .then(ack, (err: unknown) => {
          w.writeError = err as Error; // keep draining the worker so it can finish this job
          ack();
        });
      return;
    }
    // Every chunk of the job was posted before its reply: settle once they are written.
    void w.writing.then(() => {
      if (w.job !== job) return;
      w.job = undefined;
      if (w.writeError) job.reject(w.writeError);
      else if (msg.type === 'done')
        job.resolve(
          msg.clip
            ? { bytes: msg.bytes, samples: msg.samples, trimmedFragments: msg.trimmedFragments, ...msg.clip }
            : { bytes: msg.bytes, samples: msg.samples, trimmedFragments: msg.trimmedFragments, demuxer: msg.demuxer },
        );
      else job.reject(new RearviewError(msg.code as ErrorCode, msg.message));
      this.idle(w);
    });
  }

  private idle(w: Worker): void {
    if (this.closed) return;
    if (this.queue.length > 0) {
      this.start(w, this.queue.shift() as Job);
      return;
    }
    // An idle worker must not keep the daemon (or a test) alive.
    w.thread.unref();
    w.idleTimer = setTimeout(() => void w.thread.terminate(), this.idleMs);
    w.idleTimer.unref();
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
