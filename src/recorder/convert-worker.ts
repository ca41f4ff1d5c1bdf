/**
 * Child-process entry of {@link ConvertPool}: converts MKV segments to MP4
 * one at a time, on request from the parent over the IPC channel, writing
 * the MP4 bytes to stdout (with backpressure) and answering each job with
 * one message. Run by the pool as `node <flags> convert-worker.js`; not a
 * public command.
 *
 * Messages: parent -> child {@link ConvertJobMessage}; child -> parent
 * {@link ConvertReplyMessage}. The reply carries the byte count so the
 * parent knows when the last stdout byte of the job has arrived (IPC and
 * stdout are separate pipes, and either may be read first).
 *
 * The child exits when the parent goes away (IPC disconnect), so a killed
 * daemon never leaves converters behind.
 */
import { hasCode, RearviewError } from '../errors.js';
import { convertMkvToMp4 } from './convert-mkv-to-mp4.js';

/** A conversion request from the parent. */
export interface ConvertJobMessage {
  type: 'convert';
  mkvPath: string;
  /** Read the file as if it were this long (segment being recorded). */
  limitBytes?: number;
}

/** The child's answer to one {@link ConvertJobMessage}. */
export type ConvertReplyMessage =
  | { type: 'done'; bytes: number; samples: number; trimmedFragments: number; demuxer: 'rearview' | 'mediabunny' }
  | { type: 'error'; code: string; message: string; bytes: number };

function send(msg: ConvertReplyMessage): Promise<void> {
  return new Promise((resolve) => process.send?.(msg, undefined, {}, () => resolve()) ?? resolve());
}

/** Writes to stdout, waiting for 'drain' when the parent reads slower than we convert. */
function writeOut(chunk: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    if (process.stdout.write(chunk)) resolve();
    else {
      const onDrain = (): void => {
        process.stdout.off('error', onError);
        resolve();
      };
      const onError = (err: Error): void => {
        process.stdout.off('drain', onDrain);
        reject(err);
      };
      process.stdout.once('drain', onDrain).once('error', onError);
    }
  });
}

/**
 * GC when started with --expose-gc (the pool does): see ConvertOptions.afterFragment. A minor GC per
 * fragment (measured: 60 s segment peak RSS ~100 MB -> ~80 MB), and a full one every 16 fragments as
 * cheap insurance for long segments (a few ms per 16 s of video; its effect was not measurable).
 */
const exposedGc = (globalThis as { gc?: (options?: { type: 'minor' | 'major' }) => void }).gc;
let fragments = 0;
const fragmentGc = (): void => exposedGc?.({ type: ++fragments % 16 === 0 ? 'major' : 'minor' });

let queue = Promise.resolve();

process.on('message', (msg: ConvertJobMessage) => {
  if (msg?.type !== 'convert') return;
  // One job at a time: the parent never sends a second before the reply, but be safe.
  queue = queue.then(async () => {
    let written = 0;
    try {
      const result = await convertMkvToMp4(
        msg.mkvPath,
        async (chunk) => {
          written += chunk.byteLength;
          await writeOut(chunk);
        },
        { ...(msg.limitBytes === undefined ? {} : { limitBytes: msg.limitBytes }), afterFragment: fragmentGc },
      );
      await send({
        type: 'done',
        bytes: result.bytes,
        samples: result.samples,
        trimmedFragments: result.trimmedFragments,
        demuxer: result.demuxer,
      });
    } catch (err) {
      const code =
        err instanceof RearviewError && (hasCode(err, 'ERR_NOT_FOUND') || hasCode(err, 'ERR_CONVERT'))
          ? err.code
          : 'ERR_CONVERT';
      await send({ type: 'error', code, message: (err as Error).message, bytes: written });
    }
  });
});
process.on('disconnect', () => process.exit(0));
