/**
 * The fuel gauges against a fake I2C bus: a fake `i2cget` answering from the
 * register tables in test/fixtures/device/i2c/ (the MAX17048 of the device's
 * board, an LC709203F, an empty bus), the `auto` probe order, the board-model
 * rule of `--device-backend auto`, and the low-battery shutdown fed by
 * MAX17048 readings on a fake clock.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { mergeConfig, defaultConfig } from '../../src/config.js';
import { Lc709203fGauge, UnavailableBattery } from '../../src/device/battery-gauge.js';
import { createCameraDevice } from '../../src/device/camera-device.js';
import { SimulatedChargingSensor } from '../../src/device/charging-sensor.js';
import { I2cToolsBus, swapWordBytes } from '../../src/device/i2c-tools-bus.js';
import { LedController } from '../../src/device/led-controller.js';
import { LowBatteryGuard } from '../../src/device/low-battery-guard.js';
import { Max17048Gauge } from '../../src/device/max17048-gauge.js';
import { openFuelGauge } from '../../src/device/open-fuel-gauge.js';
import { readBoardModel, resolveDeviceBackend } from '../../src/device/resolve-device-backend.js';
import { SampledBatteryGauge } from '../../src/device/sampled-battery-gauge.js';
import { SimulatedGpioLine } from '../../src/device/sysfs-gpio.js';
import { hasCode } from '../../src/errors.js';
import { Logger } from '../../src/log/logger.js';
import { editFakeTable, fakeI2cget, I2C_TABLES, setFakeRegister, type FakeI2cget } from '../support/fake-i2c.js';
import { FakeClock } from '../support/fake-clock.js';
import { repoRoot, scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';

const PI_TREE = join(repoRoot, 'test', 'fixtures', 'device', 'pi-zero-2w');

const unavailable = (e: unknown): boolean => hasCode(e, 'ERR_DEVICE_UNAVAILABLE');

async function withFake<T>(table: string, fn: (fake: FakeI2cget) => Promise<T>): Promise<T> {
  const fake = fakeI2cget(table);
  try {
    return await fn(fake);
  } finally {
    fake.cleanup();
  }
}

/** A copy of the fake Pi tree (it has /dev/i2c-1 and the board model). */
function piTree(): { root: string; cleanup: () => void } {
  const s = scratchDir('rearview-pi-');
  cpSync(PI_TREE, s.dir, { recursive: true });
  return { root: s.dir, cleanup: s.cleanup };
}

describe('i2cget as the I2C bus', () => {
  it('reads a word with one fixed argument array: -y BUS ADDRESS REGISTER w', async () => {
    await withFake(I2C_TABLES.max17048, async (fake) => {
      const bus = new I2cToolsBus(1, { command: fake.command });
      // i2cget prints the SMBus word: the first byte on the wire (0x57) is its low byte.
      assert.equal(await bus.readWord(0x36, 0x04), 0x3357);
      assert.deepEqual(fake.calls(), [['-y', '1', '0x36', '0x04', 'w']]);
      assert.equal(swapWordBytes(0x3357), 0x5733);
    });
  });

  it('refuses addresses and registers outside the 7-bit / 8-bit ranges without running anything', async () => {
    await withFake(I2C_TABLES.max17048, async (fake) => {
      const bus = new I2cToolsBus(1, { command: fake.command });
      for (const [address, register] of [
        [0x36, 0x100],
        [0x36, -1],
        [0x78, 0x02],
        [0x02, 0x02],
        [0x36, 1.5],
      ] as const)
        await assert.rejects(bus.readWord(address, register), RangeError);
      assert.throws(() => new I2cToolsBus(256), RangeError);
      assert.deepEqual(fake.calls(), []);
    });
  });

  it('a chip that does not answer, a missing bus, a missing i2cget and a hung read are ERR_DEVICE_UNAVAILABLE', async () => {
    await withFake(I2C_TABLES.empty, async (fake) => {
      await assert.rejects(
        new I2cToolsBus(1, { command: fake.command }).readWord(0x36, 0x02),
        (e) => unavailable(e) && /i2cget -y 1 0x36 0x02 w: Error: Read failed/.test((e as Error).message),
      );
      await assert.rejects(
        new I2cToolsBus(3, { command: fake.command }).readWord(0x36, 0x02),
        (e) => unavailable(e) && /Could not open file `\/dev\/i2c-3'/.test((e as Error).message),
      );
      await assert.rejects(
        new I2cToolsBus(1, { command: join(fake.dir, 'no-such-i2cget') }).readWord(0x36, 0x02),
        (e) => unavailable(e) && /install i2c-tools/.test((e as Error).message),
      );
      editFakeTable(fake, (t) => {
        t.hang = true;
      });
      await assert.rejects(
        new I2cToolsBus(1, { command: fake.command, timeoutMs: 300 }).readWord(0x36, 0x02),
        (e) => unavailable(e) && /no answer within 300 ms/.test((e as Error).message),
      );
    });
  });
});

describe('MAX17048 and LC709203F drivers', () => {
  it('MAX17048: SOC 0x04 / 256 %, VCELL 0x02 x 78.125 uV, big-endian registers, read live', async () => {
    await withFake(I2C_TABLES.max17048, async (fake) => {
      const gauge = new Max17048Gauge(new I2cToolsBus(1, { command: fake.command }));
      assert.equal(gauge.kind, 'max17048');
      assert.equal(await gauge.readPercent(), 0x5733 / 256); // 87.199... %
      assert.equal(await gauge.readMillivolts(), (0xc84f * 78.125) / 1000); // 4006.17 mV
      setFakeRegister(fake, '0x36', '0x02', 'ac 80');
      assert.equal(await gauge.readMillivolts(), 3450, 'read live, never cached by the driver');
      assert.deepEqual(
        fake.calls().map((c) => c.slice(2, 4)),
        [
          ['0x36', '0x04'],
          ['0x36', '0x02'],
          ['0x36', '0x02'],
        ],
      );
    });
    await withFake(I2C_TABLES.empty, async (fake) => {
      const gauge = new Max17048Gauge(new I2cToolsBus(1, { command: fake.command }));
      await assert.rejects(
        gauge.readPercent(),
        (e) => unavailable(e) && /^MAX17048 state of charge: /.test((e as Error).message),
      );
    });
  });

  it('LC709203F through i2cget: little-endian words 0x0D (%) and 0x09 (mV)', async () => {
    await withFake(I2C_TABLES.lc709203f, async (fake) => {
      const gauge = new Lc709203fGauge(new I2cToolsBus(1, { command: fake.command }));
      assert.equal(await gauge.readPercent(), 72);
      assert.equal(await gauge.readMillivolts(), 3987);
    });
  });
});

describe('choosing the gauge (fuelGauge)', () => {
  const open = (fake: FakeI2cget, choice: 'auto' | 'max17048' | 'lc709203f' | 'none', root = PI_TREE) =>
    openFuelGauge({ choice, bus: new I2cToolsBus(1, { command: fake.command }), busNumber: 1, root });

  it('auto takes the MAX17048 at 0x36 when it answers, without asking 0x0B', async () => {
    await withFake(I2C_TABLES.max17048, async (fake) => {
      const s = await open(fake, 'auto');
      assert.equal(s.gauge.kind, 'max17048');
      assert.equal(s.description, 'fuel gauge MAX17048 at 0x36 on I2C bus 1 (4006 mV)');
      assert.deepEqual(fake.calls(), [['-y', '1', '0x36', '0x02', 'w']]);
    });
  });

  it('auto falls back to the LC709203F at 0x0B', async () => {
    await withFake(I2C_TABLES.lc709203f, async (fake) => {
      const s = await open(fake, 'auto');
      assert.equal(s.gauge.kind, 'lc709203f');
      assert.deepEqual(
        fake.calls().map((c) => c[2]),
        ['0x36', '0x0b'],
      );
    });
  });

  it('no answering gauge: a missing gauge whose reads fail and say why; none: no gauge at all', async () => {
    await withFake(I2C_TABLES.empty, async (fake) => {
      const s = await open(fake, 'auto');
      assert.ok(s.gauge instanceof UnavailableBattery);
      assert.equal(s.gauge.kind, 'missing');
      assert.match(
        s.gauge.reason,
        /^no fuel gauge answered on I2C bus 1 \(MAX17048 at 0x36: .*Read failed; LC709203F at 0x0b: .*Read failed\)$/,
      );
      assert.match(s.description, /answer 500$/);
      await assert.rejects(s.gauge.readPercent(), (e) => hasCode(e, 'ERR_DEVICE_UNAVAILABLE'));
      await assert.rejects(s.gauge.readMillivolts(), (e) => hasCode(e, 'ERR_DEVICE_UNAVAILABLE'));

      const before = fake.calls().length;
      const none = await open(fake, 'none');
      assert.equal(none.gauge.kind, 'none');
      assert.equal(fake.calls().length, before, 'none asks nothing');

      // A chip named in the config is taken without probing; its failures show at each read.
      const named = await open(fake, 'max17048');
      assert.equal(named.gauge.kind, 'max17048');
      assert.equal(fake.calls().length, before);
      await assert.rejects(named.gauge.readMillivolts(), (e) => hasCode(e, 'ERR_DEVICE_UNAVAILABLE'));
    });
  });

  it('no /dev/i2c-1: missing, with the config.txt line that enables I2C, and no i2cget run', async () => {
    const empty = scratchDir('rearview-noi2c-');
    try {
      await withFake(I2C_TABLES.max17048, async (fake) => {
        const s = await open(fake, 'auto', empty.dir);
        assert.equal(s.gauge.kind, 'missing');
        assert.match((s.gauge as UnavailableBattery).reason, /\/dev\/i2c-1 is missing.*dtparam=i2c_arm=on/);
        assert.deepEqual(fake.calls(), []);
      });
    } finally {
      empty.cleanup();
    }
  });

  it('fuelGauge is a closed set in the config', () => {
    assert.equal(mergeConfig(defaultConfig(), {}).fuelGauge, 'auto');
    assert.equal(mergeConfig(defaultConfig(), { fuelGauge: 'lc709203f' }).fuelGauge, 'lc709203f');
    assert.throws(
      () => mergeConfig(defaultConfig(), { fuelGauge: 'max17043' }),
      (e) => hasCode(e, 'ERR_CONFIG'),
    );
  });
});

describe('--device-backend auto: the board model decides', () => {
  it('a Raspberry Pi model means linux; none, another board or a link means simulated', () => {
    const s = scratchDir('rearview-model-');
    try {
      const model = join(PI_TREE, 'proc', 'device-tree', 'model');
      assert.equal(readBoardModel(model), 'Raspberry Pi Zero 2 W Rev 1.0');
      assert.deepEqual(resolveDeviceBackend('auto', model), {
        backend: 'linux',
        reason: `auto: ${model} is "Raspberry Pi Zero 2 W Rev 1.0"`,
      });
      const missing = join(s.dir, 'model');
      assert.equal(resolveDeviceBackend('auto', missing).backend, 'simulated');
      assert.match(resolveDeviceBackend('auto', missing).reason, /not a Raspberry Pi$/);
      writeFileSync(missing, 'Pine64 RockPro64 v2.1\0');
      assert.equal(resolveDeviceBackend('auto', missing).backend, 'simulated');
      assert.match(resolveDeviceBackend('auto', missing).reason, /"Pine64 RockPro64 v2.1", not a Raspberry Pi/);
      rmSync(missing);
      symlinkSync(model, missing);
      assert.equal(resolveDeviceBackend('auto', missing).backend, 'simulated', 'a link is not followed');
      mkdirSync(join(s.dir, 'dir'));
      assert.equal(readBoardModel(join(s.dir, 'dir')), undefined);
      assert.deepEqual(resolveDeviceBackend('linux', missing), {
        backend: 'linux',
        reason: 'deviceBackend is "linux"',
      });
      assert.deepEqual(resolveDeviceBackend('simulated', model), {
        backend: 'simulated',
        reason: 'deviceBackend is "simulated"',
      });
    } finally {
      s.cleanup();
    }
  });

  it('createCameraDevice on the fake Pi: the MAX17048, sampled at most once a second; elsewhere simulated', async () => {
    const { root, cleanup } = piTree();
    const clock = new FakeClock();
    const lines: string[] = [];
    const logger = new Logger({ level: 'info', sink: (l) => lines.push(l) });
    try {
      await withFake(I2C_TABLES.max17048, async (fake) => {
        const device = await createCameraDevice({
          root,
          i2cget: fake.command,
          clock,
          watchPower: false,
          logger,
        });
        assert.equal(device.backend.backend, 'linux');
        assert.equal(device.simulated.battery, false);
        assert.deepEqual(device.batteryGauge, { kind: 'max17048', error: null });
        assert.ok(
          lines.some((l) => l.endsWith('INFO  fuel gauge MAX17048 at 0x36 on I2C bus 1 (4006 mV)')),
          lines.join('\n'),
        );
        assert.ok(lines.some((l) => l.includes('INFO  device backend linux (auto: ')));
        const probes = fake.calls().length;
        const reads = await Promise.all(Array.from({ length: 10 }, () => device.battery.readPercent()));
        assert.ok(reads.every((r) => r === 0x5733 / 256));
        assert.equal(fake.calls().length, probes + 1, 'ten requests, one read');
        clock.advance(999);
        await device.battery.readPercent();
        assert.equal(fake.calls().length, probes + 1);
        clock.advance(1);
        await device.battery.readPercent();
        assert.equal(fake.calls().length, probes + 2);
        await device.close();
      });
      await withFake(I2C_TABLES.empty, async (fake) => {
        // Linux named outright on the fake Pi, no chip on the bus: no made-up numbers.
        const device = await createCameraDevice({ root, backend: 'linux', i2cget: fake.command, watchPower: false });
        assert.equal(device.batteryGauge.kind, 'missing');
        assert.match(device.batteryGauge.error ?? '', /^no fuel gauge answered on I2C bus 1/);
        await assert.rejects(device.battery.readPercent(), (e) => hasCode(e, 'ERR_DEVICE_UNAVAILABLE'));
        await device.close();
      });
      // The same tree without its model file is not a Pi: everything simulated, nothing read.
      rmSync(join(root, 'proc'), { recursive: true });
      const elsewhere = await createCameraDevice({ root, watchPower: false });
      assert.equal(elsewhere.backend.backend, 'simulated');
      assert.equal(elsewhere.batteryGauge.kind, 'simulated');
      assert.deepEqual(elsewhere.simulated, { battery: true, thermal: true, charging: true, led: true, button: true });
      await elsewhere.close();
      const noGauge = await createCameraDevice({ root, watchPower: false, fuelGauge: 'none' });
      assert.equal(noGauge.batteryGauge.kind, 'none');
      await assert.rejects(noGauge.battery.readMillivolts(), (e) => hasCode(e, 'ERR_DEVICE_UNAVAILABLE'));
      await noGauge.close();
    } finally {
      cleanup();
    }
  });
});

describe('low-battery shutdown with the MAX17048', () => {
  /** A guard over the fake bus on a fake clock; `check()` runs one check, the LED's 3 s flash included. */
  function guardOn(fake: FakeI2cget) {
    const clock = new FakeClock();
    const led = new LedController(new SimulatedGpioLine(21), clock);
    led.start();
    const bus = new I2cToolsBus(1, { command: fake.command });
    const battery = new SampledBatteryGauge(new Max17048Gauge(bus), 1000, clock);
    const calls: string[] = [];
    const guard = new LowBatteryGuard({
      battery,
      charging: new SimulatedChargingSensor(false),
      led,
      clock,
      shutdown: (r) => {
        calls.push(r);
      },
    });
    const check = async (): Promise<boolean> => {
      let settled = false;
      const checking = guard.check().finally(() => {
        settled = true;
      });
      // The reads are real child processes; the flash before the shutdown runs on the fake clock.
      await waitFor(() => settled || led.describe === 'low-battery', 'the check to read the gauge');
      if (!settled) clock.advance(3000);
      return checking;
    };
    return { clock, calls, check, close: () => led.close() };
  }

  it('at 3450 mV and 10 % it keeps running; below either it flashes 3 s and shuts down once', async () => {
    await withFake(I2C_TABLES.max17048, async (fake) => {
      // 0xac80 = 3450.0 mV and 0x0a00 = 10.0 %: not below.
      setFakeRegister(fake, '0x36', '0x02', 'ac 80');
      setFakeRegister(fake, '0x36', '0x04', '0a 00');
      const g = guardOn(fake);
      assert.equal(await g.check(), false);
      assert.deepEqual(g.calls, []);
      // VCELL 0xac76 = 3449.2 mV; the sampled reading is fresh for 1 s, so the next check sees it after 30 s.
      setFakeRegister(fake, '0x36', '0x02', 'ac 76');
      assert.equal(await g.check(), false, 'within the sample age the old reading stands');
      g.clock.advance(30_000);
      assert.equal(await g.check(), true);
      assert.deepEqual(g.calls, ['battery low (3449 mV, 10 %)']);
      assert.equal(await g.check(), false, 'once');
      assert.deepEqual(g.calls, ['battery low (3449 mV, 10 %)']);
      g.close();
    });
    await withFake(I2C_TABLES.max17048, async (fake) => {
      // SOC 0x0999 = 9.6 %, which /battery-percent rounds to 10: the guard compares the exact value.
      setFakeRegister(fake, '0x36', '0x04', '09 99');
      const g = guardOn(fake);
      assert.equal(await g.check(), true);
      assert.deepEqual(g.calls, ['battery low (4006 mV, 9.6 %)']);
      g.close();
    });
    await withFake(I2C_TABLES.empty, async (fake) => {
      const g = guardOn(fake);
      assert.equal(await g.check(), false, 'an unreadable gauge is not a flat battery');
      g.close();
    });
  });
});
