/**
 * The battery routes of a real daemon on the Linux backend (a fake Pi tree and
 * a fake `i2cget`): with no gauge answering they answer exactly as the
 * device's firmware does when its read fails, and the status says the gauge
 * is missing; with the board's MAX17048 they answer its rounded readings. A
 * `rearview serve` child on this machine says which backend `auto` chose.
 */
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { StatusDocument } from '../../src/api/wire-types.js';
import { readBoardModel } from '../../src/device/resolve-device-backend.js';
import { startDaemonInProcess, startServe, type InProcessDaemon } from '../support/daemon.js';
import { fakeI2cget, I2C_TABLES } from '../support/fake-i2c.js';
import { repoRoot, scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';

/** A daemon on the Linux backend over a copy of the fake Pi tree, reading the bus through a fake i2cget. */
async function withPiDaemon(
  table: string,
  fn: (base: string, daemon: InProcessDaemon, shutdowns: string[]) => Promise<void>,
  fuelGauge: 'auto' | 'none' = 'auto',
): Promise<void> {
  const tree = scratchDir('rearview-pi-');
  cpSync(join(repoRoot, 'test', 'fixtures', 'device', 'pi-zero-2w'), tree.dir, { recursive: true });
  const fake = fakeI2cget(table);
  const shutdowns: string[] = [];
  let daemon: InProcessDaemon | undefined;
  try {
    daemon = await startDaemonInProcess(
      { deviceBackend: 'linux', fuelGauge },
      { device: { root: tree.dir, i2cget: fake.command, shutdown: (r) => void shutdowns.push(r) } },
    );
    await fn(`http://127.0.0.1:${(daemon.daemon.apiAddress as { port: number }).port}`, daemon, shutdowns);
  } finally {
    await daemon?.close();
    fake.cleanup();
    tree.cleanup();
  }
}

async function text(url: string): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

describe('battery routes on the Linux backend', () => {
  it('no gauge answering: the two 500s of the device, null in the status, gauge "missing"', async () => {
    await withPiDaemon(I2C_TABLES.empty, async (base, _daemon, shutdowns) => {
      assert.deepEqual(await text(`${base}/battery-percent`), {
        status: 500,
        type: 'text/plain; charset=utf-8',
        body: 'Failed to get battery state of charge',
      });
      assert.deepEqual(await text(`${base}/battery-millivolts`), {
        status: 500,
        type: 'text/plain; charset=utf-8',
        body: 'Failed to get battery voltage',
      });
      // The rest of the fake Pi is read for real: thermal zone 0 says 48.312 °C.
      assert.deepEqual(await text(`${base}/cpu-temp`), { status: 200, type: 'text/plain; charset=utf-8', body: '48' });
      const status = (await (await fetch(`${base}/api/v1/status`)).json()) as StatusDocument;
      assert.equal(status.battery.percent, null);
      assert.equal(status.battery.millivolts, null);
      assert.equal(status.battery.gauge, 'missing');
      assert.match(
        status.battery.gaugeError ?? '',
        /^no fuel gauge answered on I2C bus 1 \(MAX17048 at 0x36: .*; LC709203F at 0x0b: .*\)$/,
      );
      assert.deepEqual(status.device, { backend: 'linux', reason: 'deviceBackend is "linux"' });
      assert.equal(status.simulated.battery, false);
      assert.deepEqual(shutdowns, [], 'an unreadable gauge never powers off');
    });
  });

  it('fuelGauge none: the same 500s, gauge "none"', async () => {
    await withPiDaemon(
      I2C_TABLES.max17048,
      async (base) => {
        assert.equal((await text(`${base}/battery-percent`)).status, 500);
        const status = (await (await fetch(`${base}/api/v1/status`)).json()) as StatusDocument;
        assert.equal(status.battery.gauge, 'none');
      },
      'none',
    );
  });

  it('the board\'s MAX17048: rounded readings as integer text, gauge "max17048"', async () => {
    await withPiDaemon(I2C_TABLES.max17048, async (base, _daemon, shutdowns) => {
      assert.deepEqual(await text(`${base}/battery-percent`), {
        status: 200,
        type: 'text/plain; charset=utf-8',
        body: '87',
      });
      assert.deepEqual(await text(`${base}/battery-millivolts`), {
        status: 200,
        type: 'text/plain; charset=utf-8',
        body: '4006',
      });
      const status = (await (await fetch(`${base}/api/v1/status`)).json()) as StatusDocument;
      assert.deepEqual(
        { ...status.battery, charging: null },
        { percent: 87, millivolts: 4006, charging: null, gauge: 'max17048', gaugeError: null },
      );
      assert.deepEqual(shutdowns, []);
    });
  });
});

describe('--device-backend auto in a rearview serve child', () => {
  it('says in the log and the status which backend it chose and why', async () => {
    // This machine's own board model decides (a test machine is normally not a Raspberry Pi).
    const model = readBoardModel('/proc/device-tree/model');
    const onPi = model !== undefined && /^Raspberry Pi\b/.test(model);
    const serve = await startServe(['--log-level', 'info'], { waitForApi: true });
    try {
      const status = (await (await fetch(`http://127.0.0.1:${serve.apiPort}/api/v1/status`)).json()) as StatusDocument;
      assert.equal(status.device.backend, onPi ? 'linux' : 'simulated');
      assert.match(status.device.reason, /^auto: /);
      await waitFor(
        () => serve.stderrLines.some((l) => l.includes(`device backend ${status.device.backend} (auto: `)),
        'the backend in the start-up log',
      );
      if (!onPi) {
        assert.equal(status.battery.gauge, 'simulated');
        assert.equal(status.simulated.battery, true);
        assert.equal(status.battery.percent, 87);
      }
    } finally {
      await serve.close();
    }
  });
});
