/**
 * MKV segment -> MP4 for download (iOS cannot play Matroska), with flat
 * memory whatever the segment length.
 *
 * Layout: fragmented MP4 (ftyp, moov, then one moof+mdat per second of
 * video). mediabunny writes it strictly front to back, so bytes flow to the
 * consumer while the MKV is being read, and nothing larger than one fragment
 * is held. Browsers (<video>, MSE) and AVFoundation play fragmented MP4.
 *
 * Our recordings are read with convert-mkv-reader.ts (mediabunny's demuxer is
 * the fallback for other files) and muxed with mediabunny. The daemon runs
 * this in converter worker threads (convert-pool.ts, convert-worker.ts);
 * the cache and HTTP side are in mp4-cache.ts. Figures: docs/recording.md.
 */
import { constants, write as fsWrite } from 'node:fs';
import { access, open } from 'node:fs/promises';
import { basename } from 'node:path';
import {
  ALL_FORMATS,
  Conversion,
  CustomSource,
  EncodedPacket,
  EncodedVideoPacketSource,
  FilePathSource,
  Input,
  Mp4OutputFormat,
  Output,
  StreamTarget,
  type StreamTargetChunk,
} from 'mediabunny';
import { RearviewError } from '../errors.js';
import type { ConversionResult, ConvertOptions, ConvertOutput } from './conversion-result.js';
import { openMkvVideo, type MkvVideoReader } from './convert-mkv-reader.js';
import { FragmentSampleCounter } from './fragment-sample-counter.js';
import { trimFinishedFragments } from './trim-finished-fragments.js';

export type { ConversionResult, ConvertOptions } from './conversion-result.js';

/**
 * Converts the MKV at `mkvPath` into fragmented MP4, handing each chunk to
 * `write` in order (await it for backpressure). `limitBytes` reads the file
 * as if it were that long (a segment still being written). Checks the
 * result (a corrupt input makes mediabunny produce an empty file without
 * throwing): rejects with RearviewError ERR_CONVERT when there is no video
 * track or no sample came out.
 */
export async function convertMkvToMp4(
  mkvPath: string,
  write: (chunk: Uint8Array) => Promise<void>,
  options: ConvertOptions = {},
): Promise<ConversionResult> {
  let reader: MkvVideoReader | undefined;
  try {
    reader = options.demuxer === 'mediabunny' ? undefined : await openMkvVideo(mkvPath, options.limitBytes);
    if (!reader) await access(mkvPath, constants.R_OK);
  } catch (err) {
    throw new RearviewError(
      (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'ERR_NOT_FOUND' : 'ERR_CONVERT',
      `cannot open ${basename(mkvPath)}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const out = mp4Output(options.output ? fdWriter(options.output) : write, options);
  try {
    if (reader) await muxFrames(reader, out.output, mkvPath);
    else await convertWithMediabunny(mkvPath, out.output, options.limitBytes);
  } catch (err) {
    await out.output.cancel().catch(() => undefined); // already failing: the first error is the one reported
    throw err instanceof RearviewError
      ? err
      : new RearviewError('ERR_CONVERT', `converting ${basename(mkvPath)} failed: ${(err as Error).message}`, {
          cause: err,
        });
  } finally {
    await reader?.close();
  }
  const result = out.result();
  if (result.samples === 0)
    throw new RearviewError('ERR_CONVERT', `converting ${basename(mkvPath)} produced no video samples (damaged file?)`);
  return { ...result, demuxer: reader ? 'rearview' : 'mediabunny' };
}

/** A `write` onto ConvertOptions.output: each chunk at the next offset, whole, then its size reported. */
export function fdWriter(output: ConvertOutput): (chunk: Uint8Array) => Promise<void> {
  let position = 0;
  const writeAt = (chunk: Uint8Array, at: number): Promise<number> =>
    new Promise((resolve, reject) =>
      fsWrite(output.fd, chunk, 0, chunk.byteLength, at, (err, n) => (err ? reject(err) : resolve(n))),
    );
  return async (chunk) => {
    let done = 0;
    while (done < chunk.byteLength) done += await writeAt(chunk.subarray(done), position + done);
    position += chunk.byteLength;
    output.progress(chunk.byteLength);
  };
}

/** The fragmented-MP4 Output shared by both demuxers (and clips, convert-clip-to-mp4.ts), with its byte, sample and trim counts. */
export function mp4Output(
  write: (chunk: Uint8Array) => Promise<void>,
  options: ConvertOptions,
): { output: Output; result: () => Omit<ConversionResult, 'demuxer'> } {
  let written = 0;
  const counter = new FragmentSampleCounter();
  const writable = new WritableStream<StreamTargetChunk>({
    write: async (chunk) => {
      if (chunk.position !== written)
        throw new Error(`MP4 writer went back to offset ${chunk.position} (at ${written})`);
      counter.push(chunk.data);
      written += chunk.data.byteLength;
      await write(chunk.data);
    },
  });
  let trimmed = 0;
  const output: Output = new Output({
    format: new Mp4OutputFormat({
      fastStart: 'fragmented',
      minimumFragmentDuration: 1,
      onMoof: () => {
        trimmed = trimFinishedFragments(output, trimmed);
        options.afterFragment?.();
      },
    }),
    target: new StreamTarget(writable, { chunked: false }),
  });
  return { output, result: () => ({ bytes: written, samples: counter.samples, trimmedFragments: trimmed }) };
}

/** Our demuxer's frames into mediabunny's muxer: no decoding, one copy per frame (see convert-mkv-reader.ts). */
async function muxFrames(reader: MkvVideoReader, output: Output, mkvPath: string): Promise<void> {
  const { track } = reader;
  const source = new EncodedVideoPacketSource('avc');
  output.addVideoTrack(source);
  await output.start();
  let started = false;
  for await (const f of reader.frames()) {
    if (!started && !f.key) continue; // an MP4 must start on a keyframe; ours always do
    const packet = new EncodedPacket(f.data, f.key ? 'key' : 'delta', f.timestampS, track.frameSeconds);
    if (started) await source.add(packet);
    else {
      await source.add(packet, {
        decoderConfig: {
          codec: track.codec,
          codedWidth: track.codedWidth,
          codedHeight: track.codedHeight,
          description: track.description,
        },
      });
      started = true;
    }
  }
  if (!started) throw new RearviewError('ERR_CONVERT', `${basename(mkvPath)} holds no complete keyframe`);
  await output.finalize();
}

/** mediabunny's Matroska demuxer and Conversion: the fallback for files our reader does not handle. */
async function convertWithMediabunny(mkvPath: string, output: Output, limitBytes: number | undefined): Promise<void> {
  const fh = await open(mkvPath, 'r');
  // A segment still being written is read only up to its last complete frame.
  const source =
    limitBytes === undefined
      ? new FilePathSource(mkvPath, { maxCacheSize: 4 * 1024 * 1024 })
      : new CustomSource({
          getSize: () => limitBytes,
          read: async (start, end) => {
            const buf = new Uint8Array(end - start);
            const { bytesRead } = await fh.read(buf, 0, buf.length, start);
            return bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
          },
          maxCacheSize: 4 * 1024 * 1024,
        });
  const input = new Input({ source, formats: ALL_FORMATS });
  try {
    let conversion: Conversion;
    try {
      conversion = await Conversion.init({ input, output, tracks: 'primary', audio: { discard: true } });
    } catch (err) {
      throw new RearviewError(
        'ERR_CONVERT',
        `${basename(mkvPath)} is not a readable recording: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (!conversion.isValid || !conversion.utilizedTracks.some((t) => t.isVideoTrack())) {
      const why = conversion.discardedTracks.map((d) => d.reason).join(', ') || 'no video track';
      throw new RearviewError('ERR_CONVERT', `${basename(mkvPath)} cannot be converted to MP4: ${why}`);
    }
    await conversion.execute();
  } finally {
    input.dispose();
    await fh.close().catch(() => undefined); // read-only handle: nothing to lose
  }
}
