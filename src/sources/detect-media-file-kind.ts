/**
 * Telling H.264 Annex-B, MP4 and Matroska files apart by their first bytes.
 * Its own module, free of the container demuxer (and its library), so a
 * command that only needs to know the kind starts quickly.
 */

/** What a file's first bytes say it is. */
export type MediaFileKind = 'annexb' | 'mp4' | 'matroska' | 'unknown';

/**
 * Classifies a file by its first bytes: an Annex-B stream begins with a start
 * code (zero bytes then 0x01, 7.4.1 leading_zero_8bits allowed), MP4 with a
 * box whose type is `ftyp` (or another top-level box type), Matroska/WebM
 * with the EBML magic 1A 45 DF A3.
 */
export function detectMediaFileKind(head: Uint8Array): MediaFileKind {
  if (head.length >= 4 && head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3)
    return 'matroska';
  if (head.length >= 8) {
    const type = String.fromCharCode(head[4] as number, head[5] as number, head[6] as number, head[7] as number);
    if (
      type === 'ftyp' ||
      type === 'moov' ||
      type === 'mdat' ||
      type === 'free' ||
      type === 'skip' ||
      type === 'wide' ||
      type === 'styp'
    )
      return 'mp4';
  }
  let zeros = 0;
  while (zeros < head.length && head[zeros] === 0) zeros++;
  if (zeros >= 2 && zeros < head.length && head[zeros] === 1) return 'annexb';
  return 'unknown';
}
