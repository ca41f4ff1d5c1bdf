/**
 * The contract of one MKV -> MP4 conversion, shared by the converter
 * (convert-mkv-to-mp4.ts), the pool of converter processes (convert-pool.ts)
 * and the MP4 cache (mp4-cache.ts). Types only.
 */

/** What a conversion produced. */
export interface ConversionResult {
  /** Bytes of MP4 written. */
  bytes: number;
  /** Video samples written (counted from the moof/trun boxes of the output). */
  samples: number;
  /**
   * Finished fragments whose per-sample bookkeeping was released inside
   * mediabunny (see trimFinishedFragments). 0 for a long file means the
   * workaround no longer finds mediabunny's internals: memory then grows
   * with length. A test checks it stays above 0.
   */
  trimmedFragments: number;
  /** Which demuxer read the MKV: 'rearview' (convert-mkv-reader.ts) or 'mediabunny' (the fallback). */
  demuxer: 'rearview' | 'mediabunny';
}

/** Options of convertMkvToMp4. */
export interface ConvertOptions {
  /** Read the file as if it were this long, bytes (a segment still being written). Default: its size. */
  limitBytes?: number;
  /**
   * Called once per finished fragment (about 1 s of video). The converter
   * worker uses it for a minor GC: each fragment leaves about 3 MB of
   * short-lived buffers, and V8 otherwise lets 25-40 MB of them pile up
   * before collecting (measured), most of the 80 MB budget.
   */
  afterFragment?: () => void;
  /** Write the MP4 to this descriptor instead of calling `write`; see {@link ConvertOutput}. */
  output?: ConvertOutput;
  /** 'auto' (default): our Matroska reader, mediabunny's demuxer for files it does not handle; 'mediabunny': always mediabunny's (tests, bench). */
  demuxer?: 'auto' | 'mediabunny';
}

/**
 * The MP4 goes straight to a file: the converter writes every byte to `fd`
 * (from offset 0, in order) and reports each chunk's size to `progress`
 * once written; `write` is not called. In a worker thread the bytes then
 * never cross into the daemon's heap. The descriptor must stay open until
 * the conversion settles.
 */
export interface ConvertOutput {
  fd: number;
  progress: (bytes: number) => void;
}

/** The signature of convertMkvToMp4 and ConvertPool.convert. */
export type ConvertFn = (
  mkvPath: string,
  write: (chunk: Uint8Array) => Promise<void>,
  options: { limitBytes?: number; output?: ConvertOutput },
) => Promise<ConversionResult>;
