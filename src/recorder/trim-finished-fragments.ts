import type { Output } from 'mediabunny';

/**
 * mediabunny's fragmented-MP4 muxer keeps every written sample's metadata
 * (timestamps, size) until the end, only to write the `mfra` index, which
 * needs the first sample of each fragment. For a 1-hour segment that is
 * over 100k objects. After each fragment we cut the finished fragments'
 * sample lists down to their first sample. The internals are looked up
 * defensively: if a mediabunny release renames them, nothing is trimmed
 * (memory grows with length again, output stays correct).
 *
 * This reaches into the private `_muxer.finalizedChunks`, so package.json pins
 * mediabunny exactly (no `^`), and test/recorder/mp4-converter.test.ts fails
 * when `trimmedFragments` drops to 0 after an upgrade. A public option
 * (release finished fragments' sample metadata, or skip the `mfra` index) is
 * to be requested upstream: https://github.com/Vanilagy/mediabunny/issues
 */
export function trimFinishedFragments(output: Output, from: number): number {
  const chunks = (output as unknown as { _muxer?: { finalizedChunks?: unknown } })._muxer?.finalizedChunks;
  if (!Array.isArray(chunks)) return from;
  for (let i = from; i < chunks.length; i++) {
    const samples = (chunks[i] as { samples?: unknown }).samples;
    if (!Array.isArray(samples)) return i; // shape changed: report only what was really trimmed
    if (samples.length > 1) samples.length = 1;
  }
  return chunks.length;
}
