/**
 * Publishing to real servers that run here: ffmpeg listening as an RTSP
 * server (ANNOUNCE/RECORD over TCP), as an RTMP server and as an SRT
 * listener (passphrase). Each receives the camera's live stream and decodes
 * it with 0 errors; killed and started again, it gets the stream again (from
 * a keyframe: any frame before one would be a decode error) while a TCP
 * client on port 5000 loses nothing.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import type { PublishService } from '../../src/outputs/publish-service.js';
import { startDaemonInProcess, type InProcessDaemon } from '../support/daemon.js';
import {
  freeTcpPort,
  freeUdpPort,
  receiverUrl,
  startReceiver,
  type MediaReceiver,
} from '../support/media-receivers.js';
import { waitFor } from '../support/wait.js';

function publishService(d: InProcessDaemon): PublishService {
  return d.daemon.services.find((s) => s.name === 'publish') as PublishService;
}

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

for (const kind of ['rtsp', 'rtmp', 'srt'] as const) {
  describe(`publishing over ${kind}`, () => {
    it('a real server decodes the stream with 0 errors, again after it was killed, and port 5000 loses nothing', async () => {
      const port = kind === 'srt' ? await freeUdpPort() : await freeTcpPort();
      let receiver: MediaReceiver = startReceiver(kind, port);
      cleanups.push(() => receiver.kill());
      // Credentials in the URL must never show; the ffmpeg servers ignore them.
      const url =
        kind === 'srt' ? receiverUrl(kind, port) : receiverUrl(kind, port).replace('://', '://cam:s3cret-pw@');
      const d = await startDaemonInProcess({ publish: [url] });
      cleanups.push(() => d.close());
      // A local viewer on port 5000 all along.
      const viewer: Socket = connect(d.streamPort, '127.0.0.1');
      let viewerBytes = 0;
      viewer.on('data', (b: Buffer) => {
        viewerBytes += b.length;
      });
      cleanups.push(async () => viewer.destroy());

      const status = () => publishService(d).status()[0];
      await waitFor(() => receiver.frames() >= 60, `${kind} receiver decoding 60 frames`, 30_000);
      // ffmpeg reports its progress twice a second: the state may follow the server by that much.
      await waitFor(() => status()?.state === 'publishing', `${kind} state publishing`);
      assert.deepEqual(receiver.errors, [], `${kind} receiver errors`);
      assert.doesNotMatch(JSON.stringify(publishService(d).status()), /s3cret-pw/);

      // The server dies: the camera notices, retries, and publishes again once it is back.
      await receiver.kill();
      await waitFor(() => status()?.state !== 'publishing', `${kind} publisher noticing the server is gone`, 30_000);
      const bytesWhileDown = viewerBytes;
      receiver = startReceiver(kind, port);
      await waitFor(() => receiver.frames() >= 30, `${kind} receiver decoding again`, 45_000);
      assert.deepEqual(receiver.errors, [], `${kind} receiver errors after the restart (it must start on a keyframe)`);
      await waitFor(() => status()?.state === 'publishing', `${kind} state publishing again`);
      const s = status();
      assert.ok((s?.reconnects ?? 0) >= 1, `reconnects ${s?.reconnects}`);
      assert.ok(s?.lastError, 'the failure is reported');
      assert.doesNotMatch(JSON.stringify(s), /s3cret-pw/);

      // Port 5000 went on meanwhile and skipped nothing.
      assert.ok(viewerBytes > bytesWhileDown, 'the local viewer kept receiving');
      const client = d.daemon.tcpServer.stats().clients[0];
      assert.equal(client?.framesDropped, 0);
      assert.equal(client?.dropEvents, 0);
      viewer.destroy();
      await d.close();
      await receiver.kill();
    });
  });
}

describe('#profile=record', () => {
  it('publishes the recording profile (its own hub) while the stream profile serves port 5000', async () => {
    const port = await freeTcpPort();
    const receiver = startReceiver('rtmp', port);
    cleanups.push(() => receiver.kill());
    const d = await startDaemonInProcess({ record: true, publish: [`${receiverUrl('rtmp', port)}#profile=record`] });
    cleanups.push(() => d.close());
    assert.notEqual(d.daemon.recordingHub, d.daemon.hub, 'the sample source records its own 720p profile');
    await waitFor(() => receiver.frames() >= 30, 'the server decoding the recording profile', 30_000);
    assert.deepEqual(receiver.errors, []);
    assert.ok(d.daemon.recordingHub.readerList.some((r) => r.name.startsWith('publish 0')));
    assert.ok(!d.daemon.hub.readerList.some((r) => r.name.startsWith('publish')));
    assert.equal(d.daemon.recordingHub.params?.width, 1280);
    assert.equal(publishService(d).status()[0]?.profile, 'record');
    await d.close();
    await receiver.kill();
  });
});
