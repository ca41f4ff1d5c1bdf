/**
 * A WHIP target in a real `rearview serve`: its bearer token never shows
 * (status, settings, /metrics, `rearview status`, the daemon's log), the
 * settings API refuses to change `publish`, and the WebRTC library is
 * loaded only when a WHIP target is configured (a daemon publishing over
 * RTSP has no node-datachannel addon mapped; one with a WHIP target has).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { startServe, type ServeProcess } from '../support/daemon.js';
import { freeTcpPort } from '../support/media-receivers.js';
import { cliPath } from '../support/paths.js';
import { waitFor } from '../support/wait.js';

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

type StatusDoc = { publish: Array<Record<string, unknown>> };

async function failedOnce(serve: ServeProcess): Promise<StatusDoc> {
  const base = `http://127.0.0.1:${serve.apiPort}`;
  let status: StatusDoc = { publish: [] };
  await waitFor(
    async () => {
      status = (await (await fetch(`${base}/api/v1/status`)).json()) as StatusDoc;
      return status.publish.length > 0 && status.publish.every((p) => p.lastErrorCode != null);
    },
    'every publisher failing once',
    30_000,
  );
  return status;
}

/** Whether the process has the node-datachannel native addon mapped (it is loaded). */
function hasWebRtcAddon(pid: number | undefined): boolean {
  return /node_datachannel\.node/.test(readFileSync(`/proc/${pid}/maps`, 'utf8'));
}

describe('a WHIP target in a running daemon', () => {
  it('RTSP only: the WebRTC library is not loaded', async () => {
    const serve = await startServe(['--publish', 'rtsp://127.0.0.1:1/x', '--bind', '127.0.0.1'], { waitForApi: true });
    cleanups.push(() => serve.close());
    await failedOnce(serve);
    assert.equal(hasWebRtcAddon(serve.process.pid), false);
    await serve.close();
  });

  it('the token masked in status, settings, /metrics, `rearview status` and the log; loaded; not settable', async () => {
    const refused = await freeTcpPort(); // nothing listens there: connection refused
    const serve = await startServe(
      ['--publish', `whip+http://bearer:hunter2pw-token@127.0.0.1:${refused}/whip/{name}`, '--bind', '127.0.0.1'],
      { waitForApi: true },
    );
    cleanups.push(() => serve.close());
    const base = `http://127.0.0.1:${serve.apiPort}`;
    const status = await failedOnce(serve);
    const p = status.publish[0];
    assert.equal(p?.scheme, 'whip+http');
    assert.equal(p?.lastErrorCode, 'ERR_PUBLISH_CONNECT', String(p?.lastError));
    assert.match(String(p?.lastError), /connection refused/);
    assert.match(
      String(p?.url),
      new RegExp(`^whip\\+http://\\*\\*\\*:\\*\\*\\*@127\\.0\\.0\\.1:${refused}/whip/[\\w.-]+$`),
    );
    assert.equal(hasWebRtcAddon(serve.process.pid), true, 'the stack loaded for the WHIP session');

    const settings = (await (await fetch(`${base}/api/v1/settings`)).json()) as { publish: string[] };
    assert.deepEqual(settings.publish, [`whip+http://***:***@127.0.0.1:${refused}/whip/{name}`]);
    const patch = await fetch(`${base}/api/v1/settings`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ publish: ['whip+http://evil.example/whip'] }),
    });
    assert.equal(patch.status, 400);

    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /rearview_publish_up\{publisher="0",scheme="whip\+http",profile="stream"\} 0/);

    const cli = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, [cliPath, 'status', '--camera', `127.0.0.1:${serve.apiPort}`], {
        env: { ...process.env, NO_COLOR: '1' },
      });
      let out = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
      });
      child.on('exit', () => resolve(out));
    });
    assert.match(cli, /whip\+http:\/\/\*\*\*:\*\*\*@127\.0\.0\.1/);
    assert.match(cli, /connection refused/);

    await serve.close();
    const everything = [JSON.stringify(status), JSON.stringify(settings), metrics, cli, ...serve.stderrLines].join(
      '\n',
    );
    assert.doesNotMatch(everything, /hunter2pw/);
    assert.equal(serve.stderrLines.filter((l) => /cannot publish/.test(l)).length, 1, serve.stderrLines.join('\n'));
  });
});
