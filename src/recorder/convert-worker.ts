/**
 * Worker-thread entry of {@link ConvertPool}: converts MKV segments to MP4
 * one at a time, on request from the daemon's thread, and posts the MP4
 * bytes back in order with bounded credit (at most CHUNK_CREDIT chunks not
 * yet written by the daemon), then one reply per job. Given a descriptor
 * (a cache file), it writes the bytes there itself and posts only their
 * count: the MP4 never passes through the daemon's heap. Not a public module.
 *
 * mediabunny is loaded here only, on the worker's first job: the daemon's
 * own heap never holds it, and it goes when the idle worker exits.
 *
 * The thread lowers its own CPU priority (Linux: nice 10 for this thread
 * only), so on a busy camera the live stream and the recorder run first and
 * the download waits a little longer.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { hasCode, RearviewError } from '../errors.js';
import type { ClipJob, ClipResult } from './convert-clip-to-mp4.js';

/** A conversion request from the daemon's thread. */
export interface ConvertJobMessage {
  type: 'convert';
  mkvPath: string;
  /** Read the file as if it were this long (segment being recorded). */
  limitBytes?: number;
  /** Write the MP4 to this descriptor of the process (ConvertOutput) and post `written` instead of the bytes. */
  outputFd?: number;
  /** A clip across segments (convert-clip-to-mp4.ts) instead of one segment: `mkvPath` is then only a label. */
  clip?: ClipJob;
}

/** The daemon's thread has written one chunk: the worker may send one more. */
export interface ConvertAckMessage {
  type: 'ack';
}

/** The client of the running clip export left: stop it (conversions into the cache always finish). */
export interface ConvertCancelMessage {
  type: 'cancel';
}

/** What the worker posts: MP4 bytes (the ArrayBuffer is transferred), then one reply per job. */
export type ConvertReplyMessage =
  | { type: 'chunk'; data: ArrayBuffer }
  | { type: 'written'; bytes: number }
  | { type: 'clip-start'; startMs: number }
  | {
      type: 'done';
      bytes: number;
      samples: number;
      trimmedFragments: number;
      demuxer: 'rearview' | 'mediabunny';
      /** Clips only. */
      clip?: Omit<ClipResult, 'bytes' | 'samples' | 'trimmedFragments'>;
    }
  | { type: 'error'; code: string; message: string };

/** Chunks posted and not yet written by the daemon before the worker waits (about one fragment each at most). */
export const CHUNK_CREDIT = 4;

const port = parentPort;
if (!port) throw new Error('convert-worker runs as a worker thread of ConvertPool');

/** This thread's id for the kernel (Linux), to lower its priority alone; undefined elsewhere. */
function threadId(): number | undefined {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return undefined;
  }
}
try {
  const tid = threadId();
  if (tid) setPriority(tid, 10);
} catch {
  // not permitted or not Linux: the conversion runs at normal priority
}

/**
 * A minor GC per fragment and a full one every 16: each fragment leaves about 3 MB of
 * short-lived buffers (external memory, which a small young generation does not see), and
 * V8 otherwise lets 25-40 MB pile up before collecting (measured). `gc` exists when the pool
 * set --expose-gc before starting the worker.
 */
const exposedGc = (globalThis as { gc?: (options?: { type: 'minor' | 'major' }) => void }).gc;
let fragments = 0;
const fragmentGc = (): void => exposedGc?.({ type: ++fragments % 16 === 0 ? 'major' : 'minor' });

let credit = CHUNK_CREDIT;
let creditWaiter: (() => void) | undefined;

function post(chunk: Uint8Array): Promise<void> {
  // A copy into its own ArrayBuffer: the muxer may reuse the memory behind `chunk`, and a transferred buffer is gone from this thread.
  const copy = new Uint8Array(chunk.byteLength);
  copy.set(chunk);
  port?.postMessage({ type: 'chunk', data: copy.buffer } satisfies ConvertReplyMessage, [copy.buffer]);
  credit--;
  if (credit > 0) return Promise.resolve();
  return new Promise((resolve) => {
    creditWaiter = resolve;
  });
}

let queue = Promise.resolve();

let cancelled = false;

port.on('message', (msg: ConvertJobMessage | ConvertAckMessage | ConvertCancelMessage) => {
  if (msg?.type === 'cancel') {
    cancelled = true;
    return;
  }
  if (msg?.type === 'ack') {
    credit++;
    const w = creditWaiter;
    creditWaiter = undefined;
    w?.();
    return;
  }
  if (msg?.type !== 'convert') return;
  // One job at a time: the pool never sends a second before the reply, but be safe.
  queue = queue.then(async () => {
    credit = CHUNK_CREDIT;
    cancelled = false;
    let reply: ConvertReplyMessage;
    try {
      const output =
        msg.outputFd === undefined
          ? {}
          : {
              output: {
                fd: msg.outputFd,
                progress: (bytes: number) => port.postMessage({ type: 'written', bytes } satisfies ConvertReplyMessage),
              },
            };
      if (msg.clip) {
        const { convertClipToMp4 } = await import('./convert-clip-to-mp4.js');
        const r = await convertClipToMp4(msg.clip, post, {
          ...output,
          afterFragment: fragmentGc,
          onStart: (startMs) => port.postMessage({ type: 'clip-start', startMs } satisfies ConvertReplyMessage),
          shouldStop: () => cancelled,
        });
        port.postMessage({
          type: 'done',
          bytes: r.bytes,
          samples: r.samples,
          trimmedFragments: r.trimmedFragments,
          demuxer: 'rearview',
          clip: { startMs: r.startMs, endMs: r.endMs, durationS: r.durationS, joins: r.joins },
        } satisfies ConvertReplyMessage);
        return;
      }
      const { convertMkvToMp4 } = await import('./convert-mkv-to-mp4.js');
      const result = await convertMkvToMp4(msg.mkvPath, post, {
        ...(msg.limitBytes === undefined ? {} : { limitBytes: msg.limitBytes }),
        ...output,
        afterFragment: fragmentGc,
      });
      reply = {
        type: 'done',
        bytes: result.bytes,
        samples: result.samples,
        trimmedFragments: result.trimmedFragments,
        demuxer: result.demuxer,
      };
    } catch (err) {
      const code =
        err instanceof RearviewError &&
        (hasCode(err, 'ERR_NOT_FOUND') || hasCode(err, 'ERR_CONVERT') || hasCode(err, 'ERR_ABORTED'))
          ? err.code
          : 'ERR_CONVERT';
      reply = { type: 'error', code, message: (err as Error).message };
    }
    port.postMessage(reply);
  });
});
