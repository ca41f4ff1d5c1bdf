/**
 * Retention with uploads on (docs/recording.md, "Retention"): rotation
 * deletes segments already uploaded first, and a segment still queued only
 * after them, oldest first, logged and counted. End to end: `rearview serve
 * --upload --segment 2s --max-files N` against an endpoint that is down
 * (everything queues) and against s3rver (uploads keep up).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readQueueFile, writeQueueFile } from '../../src/upload/upload-queue.js';
import { startServe, type ServeProcess } from '../support/daemon.js';
import { S3TestServer } from '../support/s3-server.js';
import { waitFor } from '../support/wait.js';

type Json = Record<string, unknown>;

async function getJson(port: number, path: string): Promise<Json> {
  return (await (await fetch(`http://127.0.0.1:${port}${path}`)).json()) as Json;
}

function args(dir: string, endpoint: string, extra: string[]): string[] {
  return [
    '--stream-port',
    '0',
    '--api-port',
    '0',
    '--no-mdns',
    '--device-backend',
    'simulated',
    '--name',
    'cam-a',
    '--recordings',
    dir,
    '--segment',
    '2s',
    '--upload',
    's3://rides/fleet',
    '--upload-endpoint',
    endpoint,
    '--upload-insecure',
    '--upload-path-style',
    '--upload-when',
    'always',
    ...extra,
  ];
}

const env = { ...process.env, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

/** Segment names rotation deleted, in order, from the daemon's log lines. */
function rotated(d: ServeProcess): string[] {
  const out: string[] = [];
  for (const l of d.stderrLines) {
    const m = /rotation: deleted \d+ segment\(s\) \(([^)]*)\)/.exec(l);
    if (m) out.push(...(m[1] as string).split(', '));
  }
  return out;
}

const seg = (n: number): string => `log${String(n).padStart(4, '0')}.mkv`;

describe('rearview serve --upload: retention', () => {
  const daemons: ServeProcess[] = [];
  const servers: S3TestServer[] = [];
  after(async () => {
    for (const d of daemons) await d.close();
    for (const s of servers) await s.stop();
  });

  it('endpoint down: uploaded segments rotate first, then the oldest queued one (logged, counted); the last segment of a run stays queued', async () => {
    const down = await S3TestServer.start();
    await down.stop(); // nothing listens on its port
    const dir = join(mkdtempSync(join(tmpdir(), 'rearview-upload-retention-')), 'recordings');
    // Run 1 records log0000..log0004 (no file limit); every one is queued, the endpoint being down.
    const first = await startServe(args(dir, down.endpoint, ['--max-files', '100']), {
      rawArgs: true,
      env,
      waitForApi: true,
      timeoutMs: 30_000,
    });
    daemons.push(first);
    await waitFor(() => existsSync(join(dir, seg(4))), 'log0004 started', 60_000, 50);
    assert.equal(await first.close(), 0);
    const doc = await readQueueFile(dir);
    const names = doc.entries.map((e) => e.name);
    assert.deepEqual(names.slice(0, 5), [0, 1, 2, 3, 4].map(seg), 'the segment sealed at the stop is queued too');
    const count = names.length;
    // Say log0002 and log0003 were uploaded (a run with the endpoint up would have done it; order
    // makes them newer than the queued log0000 and log0001, which is what the rule is about).
    const uploaded = doc.entries.filter((e) => e.name === seg(2) || e.name === seg(3));
    await writeQueueFile(dir, {
      version: 1,
      entries: doc.entries.filter((e) => !uploaded.includes(e)),
      uploaded: uploaded.map((e) => ({
        name: e.name,
        key: `fleet/cam-a/x/${e.name}`,
        sizeBytes: statSync(join(dir, e.name)).size,
        sha256Hex: createHash('sha256')
          .update(readFileSync(join(dir, e.name)))
          .digest('hex'),
        verified: 'md5' as const,
        atMs: Date.now(),
      })),
    });

    // Run 2 keeps `count` files: every new segment rotates one away.
    const second = await startServe(args(dir, down.endpoint, ['--max-files', String(count)]), {
      rawArgs: true,
      env,
      waitForApi: true,
      timeoutMs: 30_000,
    });
    daemons.push(second);
    const port = second.apiPort as number;
    await waitFor(() => rotated(second).length >= 4, 'four rotations', 60_000, 50);
    assert.deepEqual(rotated(second).slice(0, 4), [seg(2), seg(3), seg(0), seg(1)], second.stderrLines.join('\n'));
    const log = second.stderrLines.join('\n');
    assert.match(log, /rotation: deleted 1 segment\(s\) not uploaded yet to make room: log0000\.mkv/);
    assert.doesNotMatch(log, /not uploaded yet to make room: log000[23]\.mkv/);
    const up = (await getJson(port, '/api/v1/status')).upload as Json;
    assert.ok((up.deletedBeforeUpload as number) >= 2, JSON.stringify(up));
    assert.equal((up.lastError as Json).code, 'ECONNREFUSED', 'the endpoint is down');
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^rearview_upload_not_uploaded_total\{reason="deleted"\} [2-9]\d*$/m);
  });

  it('endpoint up: segments rotate once uploaded; one deleted before its upload is logged and counted', async () => {
    const server = await S3TestServer.start();
    servers.push(server);
    const dir = join(mkdtempSync(join(tmpdir(), 'rearview-upload-retention-')), 'recordings');
    const d = await startServe(args(dir, server.endpoint, ['--max-files', '5']), {
      rawArgs: true,
      env,
      waitForApi: true,
      timeoutMs: 30_000,
    });
    daemons.push(d);
    const port = d.apiPort as number;
    await waitFor(() => rotated(d).length >= 4, 'four rotations', 90_000, 50);
    const gone = rotated(d);
    const log = d.stderrLines.join('\n');
    const notUploaded = [...log.matchAll(/not uploaded yet to make room: (.*)$/gm)].flatMap((m) =>
      (m[1] as string).split(', '),
    );
    const uploadedKeys = [...server.created.keys()].map((k) => `${(k.split('/').pop() as string).split('_')[0]}.mkv`);
    // Every segment rotated away was uploaded first, unless rotation said (and counted) otherwise: uploads
    // keep up with 2 s segments and 8 s of slack, so on a machine that is not overloaded that is none.
    for (const name of gone)
      assert.ok(uploadedKeys.includes(name) || notUploaded.includes(name), `${name} rotated before its upload: ${log}`);
    const up = (await getJson(port, '/api/v1/status')).upload as Json;
    assert.equal(up.deletedBeforeUpload, notUploaded.length, log);
    assert.ok(
      gone.some((name) => !notUploaded.includes(name)),
      `no rotated segment had been uploaded: uploads fell behind all along: ${log}`,
    );
  });
});
