/**
 * rtmps:// and rtsps:// with the server's certificate verified: stunnel
 * terminates TLS in front of a real RTMP or RTSP server (ffmpeg), with a
 * certificate from a test CA. Given that CA (`publishCa`) the camera
 * publishes and the server decodes; given another CA it refuses the server,
 * with ERR_PUBLISH_TLS in status, and nothing reaches the server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PublishService } from '../../src/outputs/publish-service.js';
import { startDaemonInProcess, type InProcessDaemon } from '../support/daemon.js';
import {
  freeTcpPort,
  makeTestCertificates,
  startReceiver,
  startStunnel,
  type MediaReceiver,
} from '../support/media-receivers.js';
import { scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';

function publishService(d: InProcessDaemon): PublishService {
  return d.daemon.services.find((s) => s.name === 'publish') as PublishService;
}

for (const kind of ['rtmp', 'rtsp'] as const)
  describe(`publishing over ${kind}s`, () => {
    const scratch = scratchDir('rearview-publish-tls-');
    const cleanups: Array<() => Promise<unknown>> = [];
    let certs: Awaited<ReturnType<typeof makeTestCertificates>>;
    let tlsPort: number;
    let plainPort: number;
    let receiver: MediaReceiver;

    before(async () => {
      certs = await makeTestCertificates(scratch.dir);
      plainPort = await freeTcpPort();
      tlsPort = await freeTcpPort();
      const stunnel = await startStunnel(scratch.dir, tlsPort, plainPort, certs.cert, certs.key);
      cleanups.push(() => stunnel.close());
    });
    after(async () => {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
      scratch.cleanup();
    });

    it('verifies the server against --publish-ca and publishes', async () => {
      receiver = startReceiver(kind, plainPort);
      cleanups.push(() => receiver.kill());
      const d = await startDaemonInProcess({
        publish: [`${kind}s://cam:s3cret-pw@127.0.0.1:${tlsPort}/live/cam`],
        publishCa: certs.ca,
      });
      cleanups.push(() => d.close());
      await waitFor(() => receiver.frames() >= 30, `the ${kind} server behind TLS decoding 30 frames`, 30_000);
      await waitFor(() => publishService(d).status()[0]?.state === 'publishing', 'state publishing');
      assert.deepEqual(receiver.errors, []);
      await d.close();
      await receiver.kill();
    });

    it('refuses a server whose certificate another CA signed, with a clear status', async () => {
      receiver = startReceiver(kind, plainPort);
      cleanups.push(() => receiver.kill());
      const d = await startDaemonInProcess({
        publish: [`${kind}s://cam:s3cret-pw@127.0.0.1:${tlsPort}/live/cam`],
        publishCa: certs.otherCa,
      });
      cleanups.push(() => d.close());
      await waitFor(() => publishService(d).status()[0]?.lastErrorCode != null, 'a failure', 30_000);
      const s = publishService(d).status()[0];
      assert.equal(s?.lastErrorCode, 'ERR_PUBLISH_TLS', String(s?.lastError));
      assert.match(String(s?.lastError), /certificate/);
      assert.notEqual(s?.state, 'publishing');
      assert.doesNotMatch(JSON.stringify(s), /s3cret-pw/);
      assert.equal(receiver.frames(), 0, 'nothing reached the server');
      await d.close();
    });
  });
