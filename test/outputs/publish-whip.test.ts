/**
 * WHIP publishing (`--publish whip+http://TOKEN@host/path`) to a WHIP
 * endpoint that runs here (test/support/whip-receiver.ts: node-datachannel
 * answering, ffmpeg depacketizing and decoding the RTP): the stream decodes
 * with 0 errors; a PLI from the server is answered with the cached keyframe;
 * the endpoint killed and started again gets the stream again from a
 * keyframe while a local port-5000 client loses nothing; the daemon's
 * stop DELETEs the session; a wrong token is a clear status (HTTP 401),
 * never a crash; the token never shows.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import type { PublishService } from '../../src/outputs/publish-service.js';
import type { WhipPublisherStatus } from '../../src/outputs/whip-publisher.js';
import { startDaemonInProcess, type InProcessDaemon } from '../support/daemon.js';
import {
  freeTcpPort,
  makeTestCertificates,
  startStunnel,
  startWhipReceiver,
  type WhipReceiver,
} from '../support/media-receivers.js';
import { scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';

function publishService(d: InProcessDaemon): PublishService {
  return d.daemon.services.find((s) => s.name === 'publish') as PublishService;
}

const TOKEN = 'whip-s3cret-token';
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe('publishing over WHIP', () => {
  it('decodes with 0 errors, answers a PLI, reconnects after the server died, DELETEs on stop', async () => {
    const scratch = scratchDir('rearview-whip-');
    cleanups.push(async () => scratch.cleanup());
    const port = await freeTcpPort();
    let receiver: WhipReceiver = await startWhipReceiver(port, scratch.dir, TOKEN);
    cleanups.push(() => receiver.kill());
    const url = `whip+http://${TOKEN}@127.0.0.1:${port}/whip/cam`;
    const d = await startDaemonInProcess({ publish: [url] });
    cleanups.push(() => d.close());
    const status = () => publishService(d).status()[0] as WhipPublisherStatus | undefined;
    // A local viewer on port 5000 all along: the WHIP server's death must cost it nothing.
    const viewer: Socket = connect(d.streamPort, '127.0.0.1');
    let viewerBytes = 0;
    viewer.on('data', (b: Buffer) => {
      viewerBytes += b.length;
    });
    cleanups.push(async () => viewer.destroy());

    await waitFor(() => receiver.frames() >= 60, 'the WHIP receiver decoding 60 frames', 30_000);
    await waitFor(() => status()?.state === 'publishing', 'state publishing');
    assert.deepEqual(receiver.errors, [], 'receiver errors');
    assert.equal(status()?.url, `whip+http://***@127.0.0.1:${port}/whip/cam`);
    assert.equal(status()?.scheme, 'whip+http');

    // The server lost a picture: it asks, and gets the cached keyframe (SPS/PPS/IDR) again.
    const before = receiver.frames();
    receiver.pli();
    await waitFor(() => (status()?.keyframeRequests ?? 0) >= 1, 'the PLI counted');
    await waitFor(() => receiver.frames() >= before + 30, 'decoding on after the PLI');
    assert.deepEqual(receiver.errors, [], 'receiver errors after the PLI');

    // The server dies: the camera notices, retries, and publishes again from a keyframe once it is back.
    await receiver.kill();
    await waitFor(() => status()?.state !== 'publishing', 'the publisher noticing the server is gone', 60_000);
    const bytesWhileDown = viewerBytes;
    receiver = await startWhipReceiver(port, scratch.dir, TOKEN);
    await waitFor(() => receiver.frames() >= 30, 'the receiver decoding again', 60_000);
    assert.deepEqual(receiver.errors, [], 'receiver errors after the restart (it must start on a keyframe)');
    await waitFor(() => status()?.state === 'publishing', 'state publishing again');
    const s = status();
    assert.ok((s?.reconnects ?? 0) >= 1, `reconnects ${s?.reconnects}`);
    assert.ok(s?.lastError, 'the failure is reported');
    assert.doesNotMatch(JSON.stringify(publishService(d).status()), new RegExp(TOKEN));
    // Port 5000 went on meanwhile and skipped nothing.
    assert.ok(viewerBytes > bytesWhileDown, 'the local viewer kept receiving');
    const client = d.daemon.tcpServer.stats().clients[0];
    assert.equal(client?.framesDropped, 0);
    assert.equal(client?.dropEvents, 0);
    viewer.destroy();

    // Stopping ends the session on the server (DELETE on its Location).
    await d.close();
    await waitFor(() => receiver.events.some((e) => /^deleted \d+$/.test(e)), 'the DELETE of the session');
    await receiver.kill();
  });

  it('a wrong token: ERR_PUBLISH_AUTH (HTTP 401) and retrying, the token masked, the camera serving on', async () => {
    const scratch = scratchDir('rearview-whip-');
    cleanups.push(async () => scratch.cleanup());
    const port = await freeTcpPort();
    const receiver = await startWhipReceiver(port, scratch.dir, TOKEN);
    cleanups.push(() => receiver.kill());
    const d = await startDaemonInProcess({
      publish: [`whip+http://bearer:wrong-hunter2pw@127.0.0.1:${port}/whip/cam`],
    });
    cleanups.push(() => d.close());
    await waitFor(() => publishService(d).status()[0]?.lastErrorCode != null, 'a failure', 20_000);
    const s = publishService(d).status()[0];
    assert.equal(s?.lastErrorCode, 'ERR_PUBLISH_AUTH', String(s?.lastError));
    assert.match(String(s?.lastError), /refused the token \(HTTP 401\)/);
    assert.equal(s?.state, 'retrying');
    assert.equal(s?.url, `whip+http://***:***@127.0.0.1:${port}/whip/cam`);
    assert.doesNotMatch(JSON.stringify(s), /hunter2pw/);
    assert.ok(receiver.events.includes('unauthorized'));
    await waitFor(() => d.daemon.hub.stats().frames > 0, 'the stream going on');
    await d.close();
    await receiver.kill();
  });

  it('whip+https: verified against publishCa (publishes, DELETE over TLS); another CA is ERR_PUBLISH_TLS', async () => {
    const scratch = scratchDir('rearview-whip-tls-');
    cleanups.push(async () => scratch.cleanup());
    const certs = await makeTestCertificates(scratch.dir);
    const plainPort = await freeTcpPort();
    const tlsPort = await freeTcpPort();
    const receiver = await startWhipReceiver(plainPort, scratch.dir, TOKEN);
    cleanups.push(() => receiver.kill());
    const stunnel = await startStunnel(scratch.dir, tlsPort, plainPort, certs.cert, certs.key);
    cleanups.push(() => stunnel.close());
    const url = `whip+https://${TOKEN}@127.0.0.1:${tlsPort}/whip/cam`;

    const wrong = await startDaemonInProcess({ publish: [url], publishCa: certs.otherCa });
    cleanups.push(() => wrong.close());
    await waitFor(() => publishService(wrong).status()[0]?.lastErrorCode != null, 'a failure', 20_000);
    const w = publishService(wrong).status()[0];
    assert.equal(w?.lastErrorCode, 'ERR_PUBLISH_TLS', String(w?.lastError));
    assert.match(String(w?.lastError), /certificate did not verify/);
    assert.ok(!receiver.events.includes('offer'), 'nothing reached the server');
    await wrong.close();

    const d = await startDaemonInProcess({ publish: [url], publishCa: certs.ca });
    cleanups.push(() => d.close());
    await waitFor(() => receiver.frames() >= 30, 'the receiver decoding over https signalling', 30_000);
    await waitFor(() => publishService(d).status()[0]?.state === 'publishing', 'state publishing');
    assert.deepEqual(receiver.errors, []);
    await d.close();
    await waitFor(() => receiver.events.some((e) => /^deleted \d+$/.test(e)), 'the DELETE over TLS');
    await receiver.kill();
  });
});
