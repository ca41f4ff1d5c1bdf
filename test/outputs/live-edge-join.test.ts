/**
 * Joining at the live edge against a real `rearview serve` (the sample
 * source, one IDR per second at 30 fps, free ports):
 * - `--join live-edge`: a raw TCP client gets the cached keyframe alone,
 *   then the next keyframe, with none of the old GOP's P frames, and the
 *   bytes decode with ffmpeg without an error;
 * - the client library (`connect()`, policy 'latest', so join 'live-edge')
 *   against the default `latest-keyframe` daemon: the GOP burst comes out
 *   flagged `catchUp` (all at the start, none later), and `decode()` yields
 *   no picture for those frames; `join: 'latest-keyframe'` flags nothing.
 *
 * Each new client connects while a watcher client has seen at least 10
 * frames of the current GOP, so the join cache holds more than the keyframe.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { connect, decode, type ClientFrame, type StreamConnection } from '../../src/client/index.js';
import { parseAnnexB } from '../../src/h264/h264-stream-parser.js';
import { TRAILING_AUD } from '../../src/h264/nal-unit.js';
import { startServe } from '../support/daemon.js';
import { requireTool } from '../support/tools.js';
import { waitFor } from '../support/wait.js';
import { RawClient } from './tcp-feed.js';

/** Reads `conn` in the background, counting frames since the last keyframe. */
function watch(conn: StreamConnection): { sinceKey: number; stop: () => Promise<void> } {
  const state = { sinceKey: -1, stop: () => conn.close() };
  void (async () => {
    for await (const f of conn) state.sinceKey = f.isKey ? 0 : state.sinceKey + 1;
  })();
  return state;
}

/** Resolves once the watcher is 10 to 15 frames into a GOP (a join now finds a cache of 11 or more frames). */
async function midGop(w: { sinceKey: number }): Promise<void> {
  await waitFor(() => w.sinceKey >= 10 && w.sinceKey <= 15, 'the watcher 10 frames into a GOP', 20_000);
}

test('--join live-edge: a raw TCP client gets the cached keyframe alone, then the next keyframe', async () => {
  const serve = await startServe(['--join', 'live-edge']);
  const w = watch(connect(`tcp://127.0.0.1:${serve.streamPort}`, { policy: 'all', join: 'latest-keyframe' }));
  try {
    await midGop(w);
    const raw = new RawClient(serve.streamPort);
    await raw.connected;
    await waitFor(() => parseAnnexB(raw.data()).accessUnits.filter((a) => a.isKey).length >= 3, '3 keyframes');
    raw.close();
    const aus = parseAnnexB(raw.data()).accessUnits;
    assert.equal(aus[0]?.isKey, true, 'a picture at once: the cached keyframe');
    assert.equal(aus[1]?.isKey, true, 'then the next keyframe: none of the old GOP');
    assert.ok(
      aus.slice(2, 31).some((a) => !a.isKey),
      'then every frame, live',
    );
    const ffmpeg = requireTool('ffmpeg');
    // Up to the end of the last whole frame (each ends with an access unit delimiter; the close cut the
    // one after it). That delimiter is left out: at the end of input ffmpeg would read it as an empty frame.
    const bytes = raw.data();
    const end = bytes.lastIndexOf(Buffer.from(TRAILING_AUD));
    const r = spawnSync(ffmpeg, ['-v', 'error', '-f', 'h264', '-i', 'pipe:0', '-f', 'null', '-'], {
      input: bytes.subarray(0, end),
    });
    assert.equal(r.status, 0);
    assert.equal(r.stderr.toString().trim(), '', 'decodes without an error');
  } finally {
    await w.stop();
    await serve.close();
  }
});

test("the client library flags a latest-keyframe daemon's GOP burst as catch-up, and decode() does not show it", async () => {
  const serve = await startServe([]);
  const url = `tcp://127.0.0.1:${serve.streamPort}`;
  const w = watch(connect(url, { policy: 'all', join: 'latest-keyframe' }));
  try {
    await midGop(w);
    const edge = connect(url); // policy 'latest': join 'live-edge'
    const frames: ClientFrame[] = [];
    for await (const f of edge) {
      frames.push(f);
      if (frames.length === 60) break;
    }
    const flagged = frames.filter((f) => f.catchUp).length;
    assert.equal(frames[0]?.isKey, true);
    assert.ok(flagged >= 1, `the burst is flagged (${flagged} frames)`);
    assert.ok(
      frames.slice(0, flagged).every((f) => f.catchUp),
      'catch-up frames come first, then none',
    );
    assert.equal(edge.stats.catchUpFrames, flagged);
    // The newest frame of the burst is shown: it is no older than the frames it follows.
    const shown = frames[flagged] as ClientFrame;
    assert.ok((shown.capturedAtMs ?? 0) > (frames[0]?.capturedAtMs ?? 0));

    await midGop(w);
    const plain = connect(url, { join: 'latest-keyframe' });
    let n = 0;
    for await (const f of plain) {
      assert.equal(f.catchUp, false);
      if (++n === 15) break;
    }

    await midGop(w);
    const pictures: Array<number | undefined> = [];
    const inputs: ClientFrame[] = [];
    const tee = async function* (): AsyncGenerator<ClientFrame> {
      for await (const f of connect(url)) {
        inputs.push(f);
        yield f;
      }
    };
    for await (const p of decode(tee(), { format: 'yuv420p' })) {
      pictures.push(p.seq);
      if (pictures.length === 20) break;
    }
    const hidden = inputs.filter((f) => f.catchUp).map((f) => f.seq);
    assert.ok(hidden.length >= 1, 'a burst to hide');
    assert.ok(
      pictures.every((s) => !hidden.includes(s as number)),
      'no picture of a catch-up frame',
    );
    assert.equal(pictures[0], inputs.find((f) => !f.catchUp)?.seq, 'the first picture is the live edge');
  } finally {
    await w.stop();
    await serve.close();
  }
});
