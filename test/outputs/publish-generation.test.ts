/**
 * A new parameter-set generation (here 640x360 then 1280x720, as after a
 * resolution change) ends the publishing session and starts the next one at
 * once: an RTSP session's SDP cannot change. A real ffmpeg publisher and a
 * real RTSP server (ffmpeg), the hub fed the two bundled clips at 30 fps.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import { StreamHub } from '../../src/hub/stream-hub.js';
import { Logger } from '../../src/log/logger.js';
import { Publisher } from '../../src/outputs/publisher.js';
import { systemClock } from '../../src/util/clock.js';
import { parsePublishTarget } from '../../src/util/publish-url.js';
import { accessUnitsOfFile } from '../hub/access-units.js';
import { freeTcpPort, receiverUrl, startReceiver, type MediaReceiver } from '../support/media-receivers.js';
import { repoRoot } from '../support/paths.js';
import { requireTool } from '../support/tools.js';
import { waitFor } from '../support/wait.js';

describe('publishing across a parameter-set change', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it('ends the session and starts a new one with the new parameters', async () => {
    const small = accessUnitsOfFile(join(repoRoot, 'assets', 'sample-640x360.h264'));
    const large = accessUnitsOfFile(join(repoRoot, 'assets', 'sample-1280x720.h264'));
    const port = await freeTcpPort();
    let receiver: MediaReceiver = startReceiver('rtsp', port);
    cleanups.push(() => receiver.kill());
    const lines: string[] = [];
    const hub = new StreamHub();
    const publisher = new Publisher({
      target: parsePublishTarget(receiverUrl('rtsp', port)),
      index: 0,
      name: 'cam',
      hub,
      findFfmpeg: () => requireTool('ffmpeg'),
      logger: new Logger({ level: 'info', sink: (l) => lines.push(l) }),
      clock: systemClock,
    });
    // The camera's pace (30 fps): this drives the input, it synchronises nothing.
    let clip: AccessUnit[] = small;
    let next = 0;
    const feeder = setInterval(() => {
      hub.accessUnit(clip[next % clip.length] as AccessUnit, Date.now());
      next++;
    }, 33);
    cleanups.push(async () => clearInterval(feeder));
    cleanups.push(() => publisher.close());
    publisher.start();
    await waitFor(() => receiver.frames() >= 30, 'the 640x360 session', 30_000);

    clip = large;
    next = 0;
    hub.discontinuity('resolution change');
    // The first server sees its session end (TEARDOWN) and exits; the next one gets the new session.
    assert.equal(await receiver.exited, 0, receiver.errors.join('\n'));
    assert.deepEqual(receiver.errors, []);
    receiver = startReceiver('rtsp', port);
    await waitFor(() => receiver.frames() >= 30, 'the 1280x720 session', 30_000);
    assert.deepEqual(receiver.errors, []);
    assert.equal(hub.params?.width, 1280);
    await waitFor(() => publisher.status().state === 'publishing', 'publishing again');
    assert.ok(publisher.status().reconnects >= 1);
    assert.ok(
      lines.some((l) => /the stream parameters changed; starting a new session/.test(l)),
      lines.join('\n'),
    );
    clearInterval(feeder);
    await publisher.close();
    await receiver.kill();
  });
});
