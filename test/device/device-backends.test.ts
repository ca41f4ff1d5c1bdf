/**
 * The Linux device backends against a fake Pi Zero 2W tree (sysfs thermal
 * and GPIO, an LC709203F register file behind a fixture I2C bus; the MAX17048
 * and i2cget are in fuel-gauge.test.ts), the LED
 * patterns, button and low-battery shutdown with a fake clock, and the
 * automatic choice of simulated stand-ins.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Lc709203fGauge, SimulatedBattery, type I2cBus } from '../../src/device/battery-gauge.js';
import { createCameraDevice } from '../../src/device/camera-device.js';
import { GpioChargingSensor } from '../../src/device/charging-sensor.js';
import { LED_PATTERNS, LedController } from '../../src/device/led-controller.js';
import { LowBatteryGuard } from '../../src/device/low-battery-guard.js';
import { PolledButtonInput, PowerButton, type ButtonPress } from '../../src/device/power-button.js';
import { SimulatedGpioLine, SysfsGpioLine, sysfsGpioNumber } from '../../src/device/sysfs-gpio.js';
import { LinuxThermalSensor } from '../../src/device/thermal-sensor.js';
import { FakeClock } from '../support/fake-clock.js';
import { hasCode } from '../../src/errors.js';
import { SimulatedChargingSensor } from '../../src/device/charging-sensor.js';
import { repoRoot, scratchDir } from '../support/paths.js';

const FIXTURE = join(repoRoot, 'test', 'fixtures', 'device', 'pi-zero-2w');

/** A copy of the fixture tree the test may write to. */
function fixtureRoot(): { root: string; cleanup: () => void } {
  const s = scratchDir('rearview-device-');
  cpSync(FIXTURE, s.dir, { recursive: true });
  return { root: s.dir, cleanup: s.cleanup };
}

/** An I2C bus answering from the fixture's register file (word reads only, like the gauge needs). */
class FixtureI2cBus implements I2cBus {
  closed = false;
  constructor(private readonly file: string) {}
  async readWord(address: number, command: number): Promise<number> {
    const regs = (JSON.parse(readFileSync(this.file, 'utf8')) as { devices: Record<string, Record<string, number>> })
      .devices[String(address)];
    const v = regs?.[String(command)];
    if (v === undefined)
      throw Object.assign(
        new Error(`Remote I/O error (address 0x${address.toString(16)} reg 0x${command.toString(16)})`),
        { code: 'EREMOTEIO' },
      );
    return v;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

function setRegister(root: string, reg: number, value: number): void {
  const file = join(root, 'i2c', 'bus-1.json');
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { devices: Record<string, Record<string, number>> };
  doc.devices['11']![String(reg)] = value;
  writeFileSync(file, JSON.stringify(doc));
}

describe('Linux backends on a fixture tree', () => {
  it('thermal zone 0: millidegrees to degrees; garbage is ERR_DEVICE_UNAVAILABLE', async () => {
    const { root, cleanup } = fixtureRoot();
    try {
      assert.equal(await new LinuxThermalSensor(root).readCelsius(), 48.312);
      writeFileSync(join(root, 'sys/class/thermal/thermal_zone0/temp'), 'oops\n');
      await assert.rejects(new LinuxThermalSensor(root).readCelsius(), (e) => hasCode(e, 'ERR_DEVICE_UNAVAILABLE'));
      await assert.rejects(new LinuxThermalSensor(join(root, 'nothing')).readCelsius(), (e) =>
        hasCode(e, 'ERR_DEVICE_UNAVAILABLE'),
      );
    } finally {
      cleanup();
    }
  });

  it('GPIO numbers follow the Pi chip base (512 on kernel 6.6, 0 on older ones)', () => {
    const { root, cleanup } = fixtureRoot();
    try {
      assert.equal(sysfsGpioNumber(root, 21), 533);
      const old = join(root, 'old');
      mkdirSync(join(old, 'sys/class/gpio/gpiochip0'), { recursive: true });
      writeFileSync(join(old, 'sys/class/gpio/gpiochip0/base'), '0\n');
      writeFileSync(join(old, 'sys/class/gpio/gpiochip0/label'), 'pinctrl-bcm2835\n');
      assert.equal(sysfsGpioNumber(old, 21), 21);
    } finally {
      cleanup();
    }
  });

  it('LED line: direction out, values written to gpio533/value; export written for a missing line', () => {
    const { root, cleanup } = fixtureRoot();
    try {
      const led = new SysfsGpioLine(root, 21, 'out');
      assert.equal(readFileSync(join(root, 'sys/class/gpio/gpio533/direction'), 'utf8'), 'out');
      led.write(1);
      assert.equal(readFileSync(join(root, 'sys/class/gpio/gpio533/value'), 'utf8'), '1');
      led.write(0);
      assert.equal(led.read(), 0);
      // BCM 5 is not exported in the fixture: the line asks the kernel to export it (then fails, as no kernel answers).
      assert.throws(
        () => new SysfsGpioLine(root, 5, 'in'),
        (e) => hasCode(e, 'ERR_DEVICE_UNAVAILABLE'),
      );
      assert.equal(readFileSync(join(root, 'sys/class/gpio/export'), 'utf8'), '517');
    } finally {
      cleanup();
    }
  });

  it('charging detect reads its GPIO', async () => {
    const { root, cleanup } = fixtureRoot();
    try {
      const sensor = new GpioChargingSensor(new SysfsGpioLine(root, 27, 'in'));
      assert.equal(await sensor.isCharging(), true);
      writeFileSync(join(root, 'sys/class/gpio/gpio539/value'), '0\n');
      assert.equal(await sensor.isCharging(), false);
    } finally {
      cleanup();
    }
  });

  it('LC709203F: state of charge (0x0D) and cell voltage (0x09) words', async () => {
    const { root, cleanup } = fixtureRoot();
    try {
      const bus = new FixtureI2cBus(join(root, 'i2c/bus-1.json'));
      const gauge = new Lc709203fGauge(bus);
      assert.equal(await gauge.readPercent(), 72);
      assert.equal(await gauge.readMillivolts(), 3987);
      setRegister(root, 0x09, 3301);
      assert.equal(await gauge.readMillivolts(), 3301, 'read live, never cached');
      await assert.rejects(new Lc709203fGauge(bus, 0x36).readPercent(), (e) => hasCode(e, 'ERR_DEVICE_UNAVAILABLE'));
      await gauge.close();
      assert.equal(bus.closed, true);
    } finally {
      cleanup();
    }
  });

  it('power button on sysfs (sampled): active low when configured, a 3 s hold asks for shutdown once', () => {
    const { root, cleanup } = fixtureRoot();
    try {
      const clock = new FakeClock();
      const presses: ButtonPress[] = [];
      const input = new PolledButtonInput(new SysfsGpioLine(root, 17, 'in'), clock);
      const button = new PowerButton(input, (p) => presses.push(p), { clock, pressedLevel: 0 });
      button.start();
      clock.advance(5000);
      assert.deepEqual(presses, [], 'released (1) is not a press');
      const value = join(root, 'sys/class/gpio/gpio529/value');
      writeFileSync(value, '0\n');
      clock.advance(300);
      writeFileSync(value, '1\n');
      clock.advance(2000);
      assert.deepEqual(presses, [{ press: 'short', heldMs: 300 }]);
      writeFileSync(value, '0\n');
      clock.advance(1500);
      writeFileSync(value, '1\n');
      clock.advance(1000);
      assert.equal(presses.length, 1, 'a 1.5 s hold is neither short nor long');
      writeFileSync(value, '0\n');
      clock.advance(3100);
      assert.deepEqual(presses[1], { press: 'long', heldMs: 3000 });
      clock.advance(5000);
      assert.equal(presses.length, 2, 'holding longer does not repeat');
      void button.close();
      assert.equal(clock.pending, 0);
    } finally {
      cleanup();
    }
  });

  it('createCameraDevice auto: Linux parts where the fixture has them', async () => {
    const { root, cleanup } = fixtureRoot();
    try {
      const device = await createCameraDevice({
        root,
        openI2c: async () => new FixtureI2cBus(join(root, 'i2c/bus-1.json')),
        watchPower: false,
      });
      assert.deepEqual(device.simulated, {
        battery: false,
        thermal: false,
        charging: false,
        led: false,
        button: false,
      });
      assert.equal(await device.battery.readMillivolts(), 3987);
      assert.equal(await device.thermal.readCelsius(), 48.312);
      device.start();
      device.led.setMode('streaming');
      assert.equal(readFileSync(join(root, 'sys/class/gpio/gpio533/value'), 'utf8'), '1');
      await device.close();
      await device.close();
    } finally {
      cleanup();
    }
  });
});

describe('simulated stand-ins', () => {
  it('auto on a machine without the hardware simulates everything; linux refuses', async () => {
    const empty = scratchDir('rearview-nohw-');
    try {
      const device = await createCameraDevice({ root: empty.dir, watchPower: false });
      assert.deepEqual(device.simulated, { battery: true, thermal: true, charging: true, led: true, button: true });
      const pct = await device.battery.readPercent();
      const mv = await device.battery.readMillivolts();
      assert.ok(pct >= 20 && pct <= 100);
      assert.ok(mv > 3450 && mv < 4200);
      assert.equal(await device.charging.isCharging(), false);
      await device.close();
      await assert.rejects(createCameraDevice({ root: empty.dir, backend: 'linux', watchPower: false }));
    } finally {
      empty.cleanup();
    }
  });

  it('the simulated battery discharges slowly and holds at 20 %', async () => {
    const clock = new FakeClock();
    const b = new SimulatedBattery(() => clock.now());
    assert.equal(await b.readPercent(), 87);
    clock.advance(60 * 60_000);
    assert.equal(await b.readPercent(), 77);
    clock.advance(24 * 60 * 60_000);
    assert.equal(await b.readPercent(), 20);
    assert.equal(await b.readMillivolts(), 3710);
  });
});

describe('LED patterns', () => {
  /** Levels and how long each lasted, from a simulated line, over `ms`. */
  function trace(led: LedController, line: SimulatedGpioLine, clock: FakeClock, ms: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let level = line.level;
    let since = clock.now();
    for (let t = 0; t < ms; t += 10) {
      clock.advance(10);
      if (line.level !== level) {
        out.push([level, clock.now() - since]);
        level = line.level;
        since = clock.now();
      }
    }
    void led;
    return out;
  }

  it('streaming 1200/100, recording 100/1200, blink-on 100/1000 overriding, blink-off, low battery 50/50 for 3 s', async () => {
    const clock = new FakeClock();
    const line = new SimulatedGpioLine(21);
    const led = new LedController(line, clock);
    led.start();
    led.setMode('streaming');
    assert.deepEqual(trace(led, line, clock, 2600).slice(0, 3), [
      [1, 1200],
      [0, 100],
      [1, 1200],
    ]);
    led.setMode('recording');
    assert.deepEqual(trace(led, line, clock, 2700).slice(0, 3), [
      [1, 100],
      [0, 1200],
      [1, 100],
    ]);
    led.setBlink(true);
    assert.deepEqual(trace(led, line, clock, 2300).slice(0, 3), [
      [1, 100],
      [0, 1000],
      [1, 100],
    ]);
    led.setBlink(false);
    assert.equal(led.pattern, null, 'blink-off: the LED is off');
    assert.deepEqual(trace(led, line, clock, 3000), []);
    assert.equal(line.level, 0);
    led.setMode('streaming');
    led.setMode('recording');
    assert.equal(led.pattern, LED_PATTERNS.recording, 'a mode change ends blink-off');
    const done = led.flashLowBattery(3000);
    const flashes = trace(led, line, clock, 3000);
    assert.ok(flashes.length >= 58 && flashes.every(([, ms]) => ms === 50), 'fast 50/50 flashing');
    await done;
    assert.equal(led.pattern, LED_PATTERNS.recording, 'back to the mode pattern after 3 s');
    led.close();
    assert.equal(clock.pending, 0);
  });

  it('close() during a low-battery flash clears its timer and resolves it', async () => {
    // Regression: the flash's end timer was not tracked, so close() left it pending (and apply() ran 3 s later).
    const clock = new FakeClock();
    const line = new SimulatedGpioLine(21);
    const led = new LedController(line, clock);
    led.start();
    const done = led.flashLowBattery(3000);
    clock.advance(500);
    led.close();
    assert.equal(clock.pending, 0);
    await done;
    const level = line.level;
    clock.advance(5000);
    assert.equal(line.level, level, 'nothing written after close');
  });
});

describe('low-battery shutdown', () => {
  async function run(mv: number, pct: number, charging: boolean): Promise<string[]> {
    const clock = new FakeClock();
    const line = new SimulatedGpioLine(21);
    const led = new LedController(line, clock);
    led.start();
    const battery = {
      kind: 'simulated' as const,
      simulated: true,
      readPercent: async () => pct,
      readMillivolts: async () => mv,
      close: async () => undefined,
    };
    const calls: string[] = [];
    const guard = new LowBatteryGuard({
      battery,
      charging: new SimulatedChargingSensor(charging),
      led,
      clock,
      shutdown: (r) => {
        calls.push(r);
      },
    });
    const checking = guard.check();
    // The LED flashes for 3 s before the shutdown call: let the fake clock run it.
    for (let i = 0; i < 400 && calls.length === 0; i++) {
      await new Promise((r) => setImmediate(r));
      clock.advance(10);
    }
    await checking;
    led.close();
    return calls;
  }

  it('shuts down below 3450 mV or below 10 %, never while charging, never above', async () => {
    assert.deepEqual(await run(3440, 40, false), ['battery low (3440 mV, 40 %)']);
    assert.deepEqual(await run(3700, 9, false), ['battery low (3700 mV, 9 %)']);
    assert.deepEqual(await run(3440, 5, true), []);
    assert.deepEqual(await run(3450, 10, false), []);
  });
});
