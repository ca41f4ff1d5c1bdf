/**
 * `rearview serve --upload` to an https endpoint whose certificate comes
 * from a private CA (a LAN MinIO): trusted through `--upload-ca FILE` or
 * Node's NODE_EXTRA_CA_CERTS, the upload works; without it the status says
 * the certificate is not trusted and how to fix it (never "offline").
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServe, type ServeProcess } from '../support/daemon.js';
import { S3TestServer } from '../support/s3-server.js';
import { makeTestCertificates, type TestCertificates, TlsFront } from '../support/tls-front.js';
import { waitFor } from '../support/wait.js';

type Json = Record<string, unknown>;

async function uploadStatus(port: number): Promise<Json> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/status`);
  return ((await res.json()) as Json).upload as Json;
}

describe('rearview serve --upload over TLS with a private CA', () => {
  let server: S3TestServer;
  let front: TlsFront;
  let certs: TestCertificates;
  const daemons: ServeProcess[] = [];
  before(async () => {
    server = await S3TestServer.start();
    certs = makeTestCertificates(mkdtempSync(join(tmpdir(), 'rearview-tls-')));
    front = await TlsFront.start(certs, () => server.port);
  });
  after(async () => {
    for (const d of daemons) await d.close();
    await front?.close();
    await server?.stop();
  });

  const start = async (extra: string[], env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> => {
    const dir = join(mkdtempSync(join(tmpdir(), 'rearview-tls-upload-')), 'recordings');
    const d = await startServe(
      [
        '--stream-port',
        '0',
        '--api-port',
        '0',
        '--no-mdns',
        '--device-backend',
        'simulated',
        '--name',
        'cam-tls',
        '--recordings',
        dir,
        '--segment',
        '2s',
        '--upload',
        's3://rides/tls',
        '--upload-endpoint',
        front.endpoint,
        '--upload-path-style',
        '--upload-when',
        'always',
        ...extra,
      ],
      {
        rawArgs: true,
        env: { ...process.env, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', ...env },
        waitForApi: true,
        timeoutMs: 30_000,
      },
    );
    daemons.push(d);
    return d;
  };

  it('--upload-ca FILE: uploaded and verified; the settings say a CA is set, never its path', async () => {
    const d = await start(['--upload-ca', certs.caCertPath]);
    const port = d.apiPort as number;
    await waitFor(async () => ((await uploadStatus(port)).verified as number) >= 1, 'an upload over TLS', 60_000, 100);
    const settings = (await (await fetch(`http://127.0.0.1:${port}/api/v1/settings`)).json()) as Json;
    assert.equal((settings.upload as Json).customCa, true);
    assert.ok(!JSON.stringify(settings).includes(certs.caCertPath));
    assert.ok([...server.created.keys()].some((k) => k.startsWith('tls/cam-tls/')));
    await d.close();
  });

  it('NODE_EXTRA_CA_CERTS: uploaded too', async () => {
    const d = await start([], { NODE_EXTRA_CA_CERTS: certs.caCertPath });
    const port = d.apiPort as number;
    await waitFor(async () => ((await uploadStatus(port)).verified as number) >= 1, 'an upload over TLS', 60_000, 100);
    await d.close();
  });

  it('no CA given (or another one): failing, "not trusted", with the option to use; recording goes on', async () => {
    const other = makeTestCertificates(mkdtempSync(join(tmpdir(), 'rearview-tls-')), 'another CA');
    for (const extra of [[], ['--upload-ca', other.caCertPath]]) {
      const d = await start(extra);
      const port = d.apiPort as number;
      let up: Json = {};
      await waitFor(
        async () => {
          up = await uploadStatus(port);
          // Between two tries the state is 'failing'; during the next try it reads 'uploading'.
          return (up.failures as number) >= 1 && up.state === 'failing';
        },
        'a refused upload',
        60_000,
        100,
      );
      assert.equal(up.state, 'failing', JSON.stringify(up));
      assert.equal((up.lastError as Json).code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      assert.match(
        up.reason as string,
        /TLS certificate is not trusted .*uploadCa \(--upload-ca FILE\) or NODE_EXTRA_CA_CERTS/,
      );
      assert.match(d.stderrLines.join('\n'), /upload failed: .*TLS certificate is not trusted/);
      assert.equal(up.uploaded, 0);
      const status = (await (await fetch(`http://127.0.0.1:${port}/api/v1/status`)).json()) as Json;
      assert.equal((status.recording as Json).state, 'recording');
      await d.close();
    }
  });
});
