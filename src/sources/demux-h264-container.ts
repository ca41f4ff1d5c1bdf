/**
 * MP4 and Matroska/WebM files as H.264 sources: what a file is (by its first
 * bytes, never its name), and the H.264 track of a container as Annex-B
 * access units with their durations, so `--source file:ride.mp4` and
 * `nalu ride.mkv` (our own recordings too) work like an Annex-B file.
 *
 * Demuxing is mediabunny's. Samples are stored length-prefixed (avcC); each
 * becomes one Annex-B access unit, and a keyframe that does not carry its
 * own SPS/PPS gets the avcC's in front, so every keyframe can start a decoder.
 */
import { ALL_FORMATS, BufferSource, EncodedPacketSink, Input } from 'mediabunny';
import { parseAvcDecoderConfigurationRecord, lengthPrefixedToNals, nalsToAnnexB } from '../h264/avcc.js';
import { SourceError } from '../errors.js';
// Re-exported: importers of the demuxer keep finding it here.
export { detectMediaFileKind, type MediaFileKind } from './detect-media-file-kind.js';

/** The forms a file source accepts, for messages. */
export const ACCEPTED_FILE_FORMS = 'H.264 Annex-B, or MP4/Matroska with an H.264 track';

/** One sample of a container's H.264 track, as Annex-B. */
export interface DemuxedAccessUnit {
  /** The sample as Annex-B (4-byte start codes), with SPS/PPS in front of keyframes that lacked them. */
  annexB: Uint8Array;
  /** The container says it is a keyframe. */
  key: boolean;
  /** How long it is shown, in microseconds (from the presentation timestamps; > 0). */
  durationUs: number;
}

/** Result of {@link demuxH264Container}. */
export interface DemuxedH264Track {
  /** Samples in decode order. */
  accessUnits: DemuxedAccessUnit[];
  /** `avc1.*` codec string of the track, when the container states it. */
  codec: string | undefined;
}

/** Largest sample accepted (a bound against a hostile file): 16 MiB, the parser's NAL cap. */
const MAX_SAMPLE_BYTES = 16 * 1024 * 1024;

/**
 * Reads the primary video track of an MP4 or Matroska file held in memory.
 * Throws SourceError ERR_H264_UNSUPPORTED when the file has no H.264 video
 * track, ERR_H264_INVALID when it cannot be demuxed or has no samples.
 * `what` names the file in messages.
 */
export async function demuxH264Container(bytes: Uint8Array, what: string, fallbackFps = 30): Promise<DemuxedH264Track> {
  const buffer =
    bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
      ? (bytes.buffer as ArrayBuffer)
      : bytes.slice().buffer;
  const input = new Input({ source: new BufferSource(buffer), formats: ALL_FORMATS });
  try {
    let track: Awaited<ReturnType<Input['getPrimaryVideoTrack']>>;
    try {
      track = await input.getPrimaryVideoTrack();
    } catch (err) {
      throw new SourceError('ERR_H264_INVALID', `${what} cannot be read as MP4/Matroska: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (!track)
      throw new SourceError('ERR_H264_UNSUPPORTED', `${what} has no video track (expected ${ACCEPTED_FILE_FORMS})`);
    if (track.codec !== 'avc') {
      throw new SourceError(
        'ERR_H264_UNSUPPORTED',
        `${what}: its video track is ${track.codec ?? 'an unknown codec'}, not H.264 (expected ${ACCEPTED_FILE_FORMS})`,
      );
    }
    const config = await track.getDecoderConfig().catch(() => null);
    let lengthSize = 0; // 0: samples are Annex-B already (avc3 without a record)
    let parameterSets: Uint8Array[] = [];
    if (config?.description) {
      const d = config.description;
      const description = ArrayBuffer.isView(d)
        ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
        : new Uint8Array(d);
      try {
        const record = parseAvcDecoderConfigurationRecord(description);
        lengthSize = record.lengthSize;
        parameterSets = [...record.sps, ...record.pps];
      } catch (err) {
        throw new SourceError(
          'ERR_H264_INVALID',
          `${what}: its H.264 decoder configuration (avcC) is invalid: ${(err as Error).message}`,
          { cause: err },
        );
      }
    }
    const samples: Array<{ annexB: Uint8Array; key: boolean; timestamp: number; duration: number }> = [];
    const sink = new EncodedPacketSink(track);
    try {
      for await (const packet of sink.packets()) {
        if (packet.data.length === 0) continue;
        if (packet.data.length > MAX_SAMPLE_BYTES) {
          throw new SourceError(
            'ERR_H264_INVALID',
            `${what}: a sample of ${packet.data.length} bytes (at most ${MAX_SAMPLE_BYTES})`,
          );
        }
        samples.push({
          annexB: toAnnexB(packet.data, lengthSize, packet.type === 'key' ? parameterSets : [], what),
          key: packet.type === 'key',
          timestamp: packet.timestamp,
          duration: packet.duration,
        });
      }
    } catch (err) {
      if (err instanceof SourceError) throw err;
      throw new SourceError('ERR_H264_INVALID', `${what} cannot be demuxed: ${(err as Error).message}`, { cause: err });
    }
    if (samples.length === 0) throw new SourceError('ERR_H264_INVALID', `${what} has an H.264 track without samples`);
    const durations = sampleDurationsUs(samples, fallbackFps);
    return {
      accessUnits: samples.map((s, i) => ({ annexB: s.annexB, key: s.key, durationUs: durations[i] as number })),
      codec: config?.codec,
    };
  } finally {
    input.dispose();
  }
}

/**
 * One sample as Annex-B. With `lengthSize` 0 the sample is Annex-B already.
 * `parameterSets` go in front unless the sample carries an SPS itself.
 */
function toAnnexB(data: Uint8Array, lengthSize: number, parameterSets: Uint8Array[], what: string): Uint8Array {
  let nals: Uint8Array[];
  if (lengthSize === 0) return data.slice();
  try {
    nals = lengthPrefixedToNals(data, lengthSize);
  } catch (err) {
    throw new SourceError(
      'ERR_H264_INVALID',
      `${what}: a sample is not length-prefixed H.264: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const hasSps = nals.some((nal) => ((nal[0] as number) & 0x1f) === 7);
  return nalsToAnnexB(hasSps || parameterSets.length === 0 ? nals : [...parameterSets, ...nals]);
}

/**
 * Display durations of the samples, in decode order, in microseconds. Taken
 * from the sorted presentation timestamps (decode-order deltas are wrong with
 * B-frames, and Matroska blocks often have no duration), so the i-th sample
 * in decode order gets the i-th presentation interval: the total and the
 * cadence are right. The last interval is the median (the sample's own
 * duration for a one-sample file); anything unusable (0, negative, over 10 s) becomes 1/fallbackFps.
 */
function sampleDurationsUs(
  samples: ReadonlyArray<{ timestamp: number; duration: number }>,
  fallbackFps: number,
): number[] {
  const fallbackUs = Math.round(1e6 / fallbackFps);
  const usable = (us: number): boolean => Number.isFinite(us) && us >= 100 && us <= 10e6;
  const times = samples.map((s) => s.timestamp).sort((a, b) => a - b);
  const deltas: number[] = [];
  for (let i = 0; i + 1 < times.length; i++)
    deltas.push(Math.round(((times[i + 1] as number) - (times[i] as number)) * 1e6));
  const good = deltas.filter(usable).sort((a, b) => a - b);
  const median = good.length > 0 ? (good[Math.floor(good.length / 2)] as number) : fallbackUs;
  // The last interval: the median when there is one (muxers often store an odd last duration, and
  // the loop's cadence should stay even), else the sample's own duration.
  const lastOwn = Math.round((samples[samples.length - 1]?.duration ?? 0) * 1e6);
  deltas.push(good.length > 0 || !usable(lastOwn) ? median : lastOwn);
  return deltas.map((us) => (usable(us) ? us : median));
}
