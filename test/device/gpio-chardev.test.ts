/**
 * The button, LED and charging lines on the GPIO character device through
 * fake libgpiod tools of both versions (on PATH, recording their arguments;
 * the test drives gpiomon's edges), press timing on a fake clock; the sysfs
 * fallback on the fixture tree when the tools are missing.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createCameraDevice, type CameraDevice, type CameraDeviceOptions } from '../../src/device/camera-device.js';
import { LED_PATTERNS, togglePeriods } from '../../src/device/led-controller.js';
import { gpiogetArgs, gpiomonArgs, gpiosetArgs } from '../../src/device/libgpiod-tools.js';
import type { ButtonPress } from '../../src/device/power-button.js';
import { Logger, silentLogger } from '../../src/log/logger.js';
import { openBoardGpio } from '../../src/device/board-gpio.js';
import { FakeClock } from '../support/fake-clock.js';
import { fakeGpiod, noGpiodEnv, type FakeGpiod } from '../support/fake-gpiod.js';
import { repoRoot, scratchDir } from '../support/paths.js';
import { waitFor as waitForDefault } from '../support/wait.js';

/** Each fake tool is a Node process: on a loaded machine one can take seconds to start, so wait longer than usual. */
const waitFor = (condition: () => boolean | Promise<boolean>, what: string): Promise<void> =>
  waitForDefault(condition, what, 30_000);

const FIXTURE = join(repoRoot, 'test', 'fixtures', 'device', 'pi-zero-2w');

interface Rig {
  fake: FakeGpiod;
  clock: FakeClock;
  device: CameraDevice;
  root: string;
  presses: ButtonPress[];
  shutdowns: string[];
  logs: string[];
  close(): Promise<void>;
}

/** A device on fake tools of `version`; `sysfs` gives it the fixture's sysfs tree too. */
async function rig(version: 1 | 2, opts: { sysfs?: boolean } & CameraDeviceOptions = {}): Promise<Rig> {
  const fake = fakeGpiod(version);
  const scratch = scratchDir('rearview-gpio-root-');
  // A Pi by its board model (device backend auto); its GPIO is what the test puts there.
  cpSync(join(FIXTURE, 'proc'), join(scratch.dir, 'proc'), { recursive: true });
  if (opts.sysfs) cpSync(join(FIXTURE, 'sys'), join(scratch.dir, 'sys'), { recursive: true });
  const clock = new FakeClock();
  const presses: ButtonPress[] = [];
  const shutdowns: string[] = [];
  const logs: string[] = [];
  const logger = new Logger({ level: 'debug', sink: (line: string) => logs.push(line) });
  const device = await createCameraDevice({
    root: scratch.dir,
    env: fake.env,
    clock,
    logger,
    shutdown: (reason) => {
      shutdowns.push(reason);
    },
    ...opts,
  });
  device.onButton((p) => presses.push(p));
  return {
    fake,
    clock,
    device,
    root: scratch.dir,
    presses,
    shutdowns,
    logs,
    close: async () => {
      await device.close();
      fake.cleanup();
      scratch.cleanup();
    },
  };
}

/** Sends an edge and waits until the button has taken it. */
async function edge(r: Rig, e: 'rising' | 'falling', expect: string, line = 17): Promise<void> {
  await r.fake.edge(line, e);
  await waitFor(() => r.device.button?.state === expect, `button ${expect} after a ${e} edge`);
}

for (const version of [1, 2] as const) {
  describe(`libgpiod v${version}: the button through gpiomon`, () => {
    it('gpioget reads the level first, then one gpiomon streams the edges; short press reported, long press shuts down once', async () => {
      const r = await rig(version, { sysfs: version === 1 });
      try {
        assert.equal(r.device.gpio.kind, 'libgpiod');
        r.device.start();
        await waitFor(() => r.device.button?.state === 'released', 'the button watched');
        await waitFor(() => r.fake.live('gpiomon').length === 1, 'gpiomon running');
        const tools = { version, chip: 'gpiochip0' } as const;
        assert.deepEqual(r.fake.starts('gpioget'), [gpiogetArgs(tools, 17, 'down')]);
        assert.deepEqual(r.fake.starts('gpiomon'), [gpiomonArgs(tools, 17, 'down')]);
        const order = r.fake.calls().filter((c) => c.event === 'start' && c.args?.[0] !== '--version');
        assert.ok(
          order.findIndex((c) => c.tool === 'gpioget') < order.findIndex((c) => c.tool === 'gpiomon'),
          'gpioget before gpiomon',
        );

        // Short: held 200 ms (high = pressed, PCB v1.4).
        await edge(r, 'rising', 'pressed');
        r.clock.advance(200);
        await edge(r, 'falling', 'releasing');
        assert.deepEqual(r.presses, [], 'reported once the release has lasted the debounce time');
        r.clock.advance(30);
        assert.deepEqual(r.presses, [{ press: 'short', heldMs: 200 }]);
        assert.ok(r.logs.some((l) => l.includes('button: short press (200 ms)')));

        // A bounce inside a long hold does not end it: 3 s from the first edge shuts down once.
        await edge(r, 'rising', 'pressed');
        r.clock.advance(5);
        await edge(r, 'falling', 'releasing');
        r.clock.advance(5);
        await edge(r, 'rising', 'pressed');
        r.clock.advance(2989);
        assert.deepEqual(r.shutdowns, []);
        r.clock.advance(1);
        assert.deepEqual(r.shutdowns, ['power button long press']);
        assert.deepEqual(r.presses[1], { press: 'long', heldMs: 3000 });
        r.clock.advance(5000);
        await edge(r, 'falling', 'releasing');
        r.clock.advance(30);
        assert.equal(r.presses.length, 2, 'the release of a long press is no short press');
        assert.deepEqual(r.shutdowns, ['power button long press']);
        assert.equal(r.fake.starts('gpiomon').length, 1, 'one gpiomon for all of it');
        await r.device.close();
        assert.deepEqual(r.fake.live('gpiomon'), [], 'close() stops gpiomon');
      } finally {
        await r.close();
      }
    });
  });
}

describe('the button: polarity, pull, a press at start, a gpiomon that dies', () => {
  it('active-low with pull-up; a button read pressed at start counts only after a release', async () => {
    const r = await rig(2, { buttonPolarity: 'active-low', buttonPull: 'up', buttonGpio: 4, buttonLongPressMs: 5000 });
    try {
      r.fake.setLevel(4, 0); // low = pressed: held at start
      r.device.start();
      await waitFor(() => r.fake.live('gpiomon').length === 1, 'gpiomon running');
      assert.deepEqual(r.fake.starts('gpiomon')[0], gpiomonArgs({ version: 2, chip: 'gpiochip0' }, 4, 'up'));
      assert.equal(r.device.button?.state, 'waiting');
      assert.ok(r.logs.some((l) => /button GPIO 4 reads pressed at start/.test(l)));
      r.clock.advance(10_000);
      assert.deepEqual(r.shutdowns, [], 'held from the start is no long press');
      await edge(r, 'rising', 'released', 4);
      await edge(r, 'falling', 'pressed', 4);
      r.clock.advance(4999);
      assert.deepEqual(r.shutdowns, []);
      r.clock.advance(1);
      assert.deepEqual(r.shutdowns, ['power button long press'], 'the configured 5 s');
    } finally {
      await r.close();
    }
  });

  it('a gpiomon that dies is restarted after 1 s (fake clock), and presses work again', async () => {
    const r = await rig(2);
    try {
      r.device.start();
      await waitFor(() => r.device.button?.state === 'released' && r.fake.live('gpiomon').length === 1, 'gpiomon');
      const first = r.fake.live('gpiomon')[0]!.pid;
      process.kill(first, 'SIGKILL');
      await waitFor(() => r.logs.some((l) => /gpiomon .* stopped .*restarting in 1 s/.test(l)), 'the restart logged');
      assert.equal(r.fake.starts('gpiomon').length, 1, 'not before the delay');
      r.clock.advance(1000);
      await waitFor(() => r.fake.live('gpiomon').some((c) => c.pid !== first), 'a new gpiomon');
      await edge(r, 'rising', 'pressed');
      r.clock.advance(100);
      await edge(r, 'falling', 'releasing');
      r.clock.advance(30);
      assert.deepEqual(r.presses, [{ press: 'short', heldMs: 100 }]);
    } finally {
      await r.close();
    }
  });
});

describe('the LED on the character device', () => {
  it('v2: one gpioset per pattern (-t plays it), replaced only when the pattern changes, never per blink', async () => {
    const r = await rig(2, { watchPower: false });
    try {
      const tools = { version: 2, chip: 'gpiochip0' } as const;
      r.device.start();
      r.device.led.setMode('streaming');
      const streaming = gpiosetArgs(tools, 21, 1, togglePeriods(LED_PATTERNS.streaming));
      assert.deepEqual(streaming.slice(-3), ['-t', '1200ms,100ms', '21=1']);
      await waitFor(() => r.fake.live('gpioset').length === 1, 'gpioset running');
      assert.deepEqual(r.fake.live('gpioset')[0]!.args, streaming);
      const started = r.fake.starts('gpioset').length;
      r.clock.advance(60_000);
      assert.equal(r.fake.starts('gpioset').length, started, 'a minute of blinking starts nothing');

      r.device.led.setBlink(false);
      await waitFor(() => r.fake.live('gpioset')[0]?.args?.at(-1) === '21=0', 'blink-off: held low');
      // The fake gpioset shows its arguments before it has set the line: wait for the level itself.
      await waitFor(() => r.fake.level(21) === '0', 'the line held low');
      r.device.led.setNotRecording(true);
      await waitFor(
        () => r.fake.live('gpioset')[0]?.args?.includes('100ms,100ms,100ms,100ms,100ms,1500ms') === true,
        'the alarm shows through blink-off',
      );
      // A burst of changes in one tick: only the last one runs, after the old process let go of the line.
      r.device.led.setNotRecording(false);
      r.device.led.setBlink(true);
      r.device.led.setMode('recording');
      await waitFor(() => r.fake.live('gpioset')[0]?.args?.includes('100ms,1000ms') === true, 'blink-on');
      await waitFor(() => r.fake.live('gpioset').length === 1, 'one gpioset');
      assert.deepEqual(
        r.fake.calls().filter((c) => c.event === 'failed'),
        [],
        'no gpioset found the line busy',
      );
      assert.ok(r.fake.starts('gpioset').length <= 6, `${r.fake.starts('gpioset').length} gpioset starts`);
      await r.device.close();
      assert.deepEqual(r.fake.live('gpioset'), [], 'close() stops gpioset');
    } finally {
      await r.close();
    }
  });

  it('v1 with sysfs: the LED blinks through sysfs (no gpioset at all), the button through gpiomon', async () => {
    const r = await rig(1, { sysfs: true, watchPower: false });
    try {
      r.device.start();
      r.device.led.setMode('streaming');
      const value = join(r.root, 'sys/class/gpio/gpio533/value');
      assert.equal(readFileSync(value, 'utf8'), '1');
      r.clock.advance(1200);
      assert.equal(readFileSync(value, 'utf8'), '0');
      r.clock.advance(100);
      assert.equal(readFileSync(value, 'utf8'), '1');
      assert.match(r.device.gpio.description, /LED through sysfs/);
      assert.deepEqual(r.fake.starts('gpioset'), []);
    } finally {
      await r.close();
    }
  });

  it('v1 without sysfs: gpioset --mode=signal holds one steady level per pattern', async () => {
    const r = await rig(1, { watchPower: false });
    try {
      r.device.start();
      r.device.led.setMode('streaming');
      await waitFor(() => r.fake.live('gpioset').at(-1)?.args?.at(-1) === '21=1', 'streaming: on');
      assert.deepEqual(r.fake.live('gpioset')[0]!.args, ['--mode=signal', 'gpiochip0', '21=1']);
      r.device.led.setMode('recording');
      await waitFor(() => r.fake.live('gpioset').at(-1)?.args?.at(-1) === '21=0', 'recording: off');
      r.device.led.setNotRecording(true);
      // The newest gpioset holds the level in force (the one before may still be letting go of the line).
      await waitFor(() => r.fake.live('gpioset').at(-1)?.args?.at(-1) === '21=1', 'the alarm: on');
      const n = r.fake.starts('gpioset').length;
      r.clock.advance(60_000);
      assert.equal(r.fake.starts('gpioset').length, n, 'no process per blink');
      assert.match(r.device.gpio.description, /steady levels only/);
    } finally {
      await r.close();
    }
  });
});

describe('charging detect and the fallbacks', () => {
  it('charging is read with gpioget on the character device', async () => {
    const r = await rig(2, { watchPower: false });
    try {
      r.fake.setLevel(27, 1);
      assert.equal(await r.device.charging.isCharging(), true);
      r.fake.setLevel(27, 0);
      assert.equal(await r.device.charging.isCharging(), false);
      assert.deepEqual(r.fake.starts('gpioget').at(-1), ['-c', 'gpiochip0', '--numeric', '27']);
    } finally {
      await r.close();
    }
  });

  it('without the tools: sysfs on a Pi tree, simulated elsewhere; gpioInterface sysfs skips the tools', async () => {
    const root = scratchDir('rearview-gpio-fallback-');
    cpSync(join(FIXTURE, 'sys'), join(root.dir, 'sys'), { recursive: true });
    cpSync(join(FIXTURE, 'proc'), join(root.dir, 'proc'), { recursive: true });
    const empty = scratchDir('rearview-gpio-empty-');
    const fake = fakeGpiod(2);
    try {
      const sysfs = await createCameraDevice({ root: root.dir, env: noGpiodEnv(), watchPower: false });
      assert.equal(sysfs.gpio.kind, 'sysfs');
      assert.match(sysfs.gpio.description, /libgpiod tools not installed/);
      assert.equal(sysfs.simulated.button, false);
      await sysfs.close();
      const sim = await createCameraDevice({ root: empty.dir, env: noGpiodEnv(), watchPower: false });
      assert.equal(sim.gpio.kind, 'simulated');
      assert.equal(sim.simulated.led, true);
      await sim.close();
      const forced = await createCameraDevice({
        root: root.dir,
        env: fake.env,
        gpioInterface: 'sysfs',
        watchPower: false,
      });
      assert.equal(forced.gpio.kind, 'sysfs');
      await forced.close();
      assert.deepEqual(fake.starts('gpioset'), [], 'the tools were not asked');
      await assert.rejects(
        openBoardGpio({
          backend: 'linux',
          gpioInterface: 'libgpiod',
          root: empty.dir,
          env: noGpiodEnv(),
          ledLine: 21,
          buttonLine: 17,
          buttonPull: 'down',
          chargingLine: 27,
          clock: new FakeClock(),
          logger: silentLogger,
        }),
        /libgpiod tools not installed/,
      );
    } finally {
      root.cleanup();
      empty.cleanup();
      fake.cleanup();
    }
  });
});
