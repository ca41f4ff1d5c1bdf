/**
 * The LED and the button against real daemons: `PUT /blink-off` (curl, a
 * `rearview serve` child) turns the LED off until `blink-on` or a mode
 * change, as status shows; a button press reaches `/api/v1/events` as a
 * `button` event (in-process daemon: the press is reported the way the
 * power button reports it).
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import type { ApiService } from '../../src/api/api-service.js';
import { startDaemonInProcess, startServe } from '../support/daemon.js';
import { curl } from './api-harness.js';
import { scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';

describe('PUT /blink-off on a running daemon', () => {
  it('the LED goes off until blink-on or a mode change', async () => {
    const scratch = scratchDir('rearview-blink-');
    const serve = await startServe(
      ['--device-backend', 'simulated', '--mode', 'exclusive', '--stream-window', '1s', '--bind', '127.0.0.1'],
      { waitForApi: true },
    );
    const api = `http://127.0.0.1:${serve.apiPort}`;
    const status = async (): Promise<{ led: string; activity: string }> =>
      JSON.parse((await curl([`${api}/api/v1/status`], scratch.dir)).text) as { led: string; activity: string };
    try {
      // The 1 s window passes with no client: the camera records, the LED shows the recording pattern.
      await waitFor(async () => (await status()).activity === 'recording', 'exclusive mode recording');
      assert.equal((await status()).led, 'recording');

      const off = await curl(['-X', 'PUT', `${api}/blink-off`], scratch.dir);
      assert.deepEqual([off.status, off.text], [200, 'Turned off LED']);
      assert.equal((await status()).led, 'blink-off');

      const on = await curl(['-X', 'PUT', `${api}/blink-on`], scratch.dir);
      assert.deepEqual([on.status, on.text], [200, 'Turned on LED']);
      assert.equal((await status()).led, 'blink');

      await curl(['-X', 'PUT', `${api}/blink-off`], scratch.dir);
      assert.equal((await status()).led, 'blink-off');
      // A mode change (the streaming window reopens) ends blink-off.
      const restart = await curl(['-X', 'PUT', `${api}/restart-stream-mode`], scratch.dir);
      assert.equal(restart.status, 200);
      const after = await status();
      assert.ok(['streaming', 'recording'].includes(after.led), `led ${after.led} after the mode change`);
    } finally {
      await serve.close();
      scratch.cleanup();
    }
  });
});

describe('button presses on the event feed', () => {
  it('a short press is a button event', async () => {
    const d = await startDaemonInProcess({ deviceBackend: 'simulated' });
    try {
      const apiService = d.daemon.services.find((s) => s.name === 'api') as ApiService;
      const port = d.daemon.apiAddress!.port;
      const req = request(`http://127.0.0.1:${port}/api/v1/events`);
      const event = new Promise<Record<string, unknown>>((resolve, reject) => {
        req.on('response', (res) => {
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buf += chunk;
            for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
              const block = buf.slice(0, i);
              buf = buf.slice(i + 2);
              const ev = /^event: (.*)$/m.exec(block)?.[1];
              if (ev === 'hello') apiService.device!.reportButton({ press: 'short', heldMs: 180 });
              if (ev === 'button')
                resolve(JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? '{}') as Record<string, unknown>);
            }
          });
        });
        req.on('error', reject);
      });
      req.end();
      const data = await event;
      assert.equal(data.press, 'short');
      assert.equal(data.heldMs, 180);
      assert.equal(typeof data.atMs, 'number');
      req.destroy();
    } finally {
      await d.close();
    }
  });
});
