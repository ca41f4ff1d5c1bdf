/**
 * The trailing-AUD effect (docs/protocol.md, "Closing frames at once"):
 * FFmpeg's raw H.264 demuxer closes a frame only when the next one starts.
 * With the hub's trailing access unit delimiter, FFmpeg reading tcp:// hands
 * out each frame as soon as it arrives; without it, one frame late.
 *
 * Method (bench/trailing-aud-run.ts): frames are published one at a time;
 * after publishing frame k the test waits until ffprobe -show_packets
 * (FFmpeg's demuxer and parser) has put out packet k - lag and records the
 * latest packet out. The assertions are about order, not time: with the AUD,
 * packet k is out before frame k+1 is sent; without it, only packet k-1.
 * The effect on FFmpeg's decoder, whose own output delay settles at 0 or 1
 * frame, is measured by bench/trailing-aud-bench.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { median, runTrailingAud } from '../../bench/trailing-aud-run.js';

describe('trailing AUD', () => {
  const n = 60;

  it("lets FFmpeg's demuxer (ffprobe reading tcp://) hand out each frame before the next is sent", async (t) => {
    const on = await runTrailingAud('ffprobe', true, 0, n, []);
    assert.ok(
      on.latest.every((d) => d === 0),
      `with the AUD the latest packet out is the frame just sent: ${on.latest}`,
    );
    const off = await runTrailingAud('ffprobe', false, 1, n, []);
    assert.ok(
      off.latest.every((d) => d === -1),
      `without it, the one before: ${off.latest}`,
    );
    t.diagnostic(
      `ffprobe: frame sent -> its packet out, median ${median(on.delaysMs).toFixed(2)} ms with the AUD; without it the packet leaves only when the next frame is sent`,
    );
  });
});
