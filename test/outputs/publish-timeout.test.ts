/**
 * The connect timeout, to the millisecond on a fake clock: a server that
 * accepts the TCP connection and never answers leaves the publisher
 * `connecting` until 15 s (the documented time, docs/errors.md
 * ERR_PUBLISH_TIMEOUT) and fails it at 15 s with "timed out", then retries.
 * A real ffmpeg child (RTSP) and a real WHIP session (node-datachannel,
 * HTTP POST) against a real socket that holds the connections.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import { StreamHub } from '../../src/hub/stream-hub.js';
import { Publisher } from '../../src/outputs/publisher.js';
import { WhipPublisher } from '../../src/outputs/whip-publisher.js';
import { parsePublishTarget } from '../../src/util/publish-url.js';
import { accessUnitsOfFile } from '../hub/access-units.js';
import { FakeClock } from '../support/fake-clock.js';
import { repoRoot } from '../support/paths.js';
import { requireTool } from '../support/tools.js';
import { waitFor } from '../support/wait.js';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** A server that takes connections and neither reads nor answers. */
async function hangingServer(): Promise<{ port: number; held: Socket[] }> {
  const held: Socket[] = [];
  const server: Server = createServer({ pauseOnConnect: true }, (socket) => {
    held.push(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const s of held) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as { port: number }).port, held };
}

/** A hub on the fake clock holding the first 10 access units of the bundled clip (a keyframe first). */
function hubWithPicture(clock: FakeClock): StreamHub {
  const hub = new StreamHub({ clock: clock.now });
  for (const au of accessUnitsOfFile(join(repoRoot, 'assets', 'sample-640x360.h264')).slice(0, 10))
    hub.accessUnit(au as AccessUnit, clock.wallNow());
  return hub;
}

describe('the connect timeout (fake clock)', () => {
  it('ffmpeg (RTSP): connecting until 15 s, then ERR_PUBLISH_TIMEOUT "timed out" and a retry', async () => {
    const { port, held } = await hangingServer();
    const clock = new FakeClock();
    const hub = hubWithPicture(clock);
    const publisher = new Publisher({
      target: parsePublishTarget(`rtsp://127.0.0.1:${port}/live/cam`),
      index: 0,
      name: 'cam',
      hub,
      findFfmpeg: () => requireTool('ffmpeg'),
      clock,
    });
    cleanups.push(() => publisher.close());
    publisher.start();
    // The timer starts with the session's first frame; ffmpeg then connects and waits for an answer.
    await waitFor(() => publisher.status().frames > 0 && held.length === 1, 'ffmpeg connected, frames handed over');
    clock.advance(14_999);
    assert.equal(publisher.status().state, 'connecting');
    assert.equal(publisher.status().lastErrorCode, null);
    clock.advance(1);
    await waitFor(() => publisher.status().state === 'retrying', 'the timeout ending the session');
    const s = publisher.status();
    assert.equal(s.lastErrorCode, 'ERR_PUBLISH_TIMEOUT', String(s.lastError));
    assert.match(String(s.lastError), /^timed out: not publishing 15 s after starting/);
    assert.ok((s.retryInMs ?? 0) > 0);
    await publisher.close();
  });

  it('WHIP: connecting until 15 s after the attempt, then ERR_PUBLISH_TIMEOUT "timed out" and a retry', async () => {
    const { port, held } = await hangingServer();
    const clock = new FakeClock();
    const hub = hubWithPicture(clock);
    const publisher = new WhipPublisher({
      target: parsePublishTarget(`whip+http://token-hunter2pw@127.0.0.1:${port}/whip/cam`),
      index: 0,
      name: 'cam',
      hub,
      clock,
    });
    cleanups.push(() => publisher.close());
    publisher.start();
    await waitFor(() => held.length === 1, 'the offer POSTed to the server');
    clock.advance(14_999);
    assert.equal(publisher.status().state, 'connecting');
    clock.advance(1);
    const s = publisher.status();
    assert.equal(s.state, 'retrying');
    assert.equal(s.lastErrorCode, 'ERR_PUBLISH_TIMEOUT', String(s.lastError));
    assert.match(String(s.lastError), /^timed out: not publishing 15 s after starting/);
    assert.doesNotMatch(JSON.stringify(s), /hunter2pw/);
    await publisher.close();
  });
});
