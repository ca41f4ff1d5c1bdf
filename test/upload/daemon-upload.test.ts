/**
 * `rearview serve --upload` end to end against s3rver: the real daemon
 * records the sample and uploads each finished segment; SIGKILLed in the
 * middle of a multipart upload and started again over the same folder, it
 * resumes from its saved queue: the object arrives byte-identical and is
 * completed once. Status, /metrics, `rearview status` and the settings show
 * the upload (masked), and PATCH cannot change it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli } from '../cli/cli-run.js';
import { startServe, type ServeProcess } from '../support/daemon.js';
import { S3TestServer } from '../support/s3-server.js';
import { waitFor } from '../support/wait.js';
import { killMidMultipart, multipartUploadServe } from './multipart-kill.js';

async function getJson(port: number, path: string): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return (await res.json()) as Record<string, unknown>;
}

describe('rearview serve --upload', () => {
  const daemons: ServeProcess[] = [];
  let server: S3TestServer | undefined;
  after(async () => {
    for (const d of daemons) await d.close();
    await server?.stop();
  });

  it('SIGKILLed mid-upload and restarted: nothing lost, no object completed twice; status shows it', async () => {
    server = await S3TestServer.start();
    const { dir, args, env } = multipartUploadServe(server, 'rearview-daemon-upload-');
    const first = await startServe(args, { rawArgs: true, env, waitForApi: true, timeoutMs: 30_000 });
    daemons.push(first);
    // The first segment goes up in 2 parts at 3 MB/s: kill once one part is acknowledged and saved.
    const { key, name } = await killMidMultipart(first, dir, server);

    const second = await startServe(args, { rawArgs: true, env, waitForApi: true, timeoutMs: 30_000 });
    daemons.push(second);
    const port = second.apiPort as number;
    let upload: Record<string, unknown> = {};
    await waitFor(
      async () => {
        upload = (await getJson(port, '/api/v1/status')).upload as Record<string, unknown>;
        return (upload.uploaded as number) >= 1;
      },
      `${key} uploaded and verified after the restart`,
      120_000,
      100,
    );
    assert.ok(server.created.has(key));
    assert.equal(upload.target, 's3://rides/***');
    assert.ok((upload.verified as number) >= 1);
    assert.deepEqual(await server.getObject(key), readFileSync(join(dir, name)), 'byte-identical');
    for (const [k, n] of server.created) assert.equal(n, 1, `${k} completed ${n} times`);
    assert.deepEqual(server.payloadMismatches, []);
    assert.match(key, /^fleet\/cam-a\/\d{4}\/\d{2}\/\d{2}\/log\d{4}_\d+\.mkv$/);

    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^rearview_upload_queue_segments \d+$/m);
    assert.match(metrics, /^rearview_upload_uploaded_total \d+$/m);
    const cli = await runCli(['status', '--camera', `127.0.0.1:${port}`]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^upload +\S+ to s3:\/\/rides\/\*\*\*: \d+ queued/m);

    // Settings: shown masked, never changed over HTTP.
    const settings = await getJson(port, '/api/v1/settings');
    const us = settings.upload as Record<string, unknown>;
    assert.equal(us.target, 's3://rides/***');
    assert.equal(us.endpoint, '***');
    assert.equal(us.credentials, 'environment');
    assert.ok(!JSON.stringify(settings).includes('S3RVER'), 'no key in the settings');
    assert.ok(!JSON.stringify(settings).includes(String(server.port)), 'no endpoint in the settings');
    for (const body of [{ upload: 's3://evil/x' }, { uploadEndpoint: 'http://evil:1' }, { uploadWhen: 'always' }]) {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/settings`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 400, JSON.stringify(body));
    }
    assert.ok(!second.stderrLines.join('\n').includes('S3RVER'), 'credentials never logged');
  });
});
