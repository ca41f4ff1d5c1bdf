/**
 * The LED's priority rule on a fake clock: low battery > not recording (the
 * `error` pattern, 3 flashes of 100 ms every 2 s) > a marked moment (solid
 * 1 s) > blink-on > the mode pattern; blink-off turns the LED off until
 * blink-on or a mode change and never hides the alarm. An output that plays
 * patterns itself (gpioset -t) gets one call per change of pattern.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LED_PATTERNS,
  LedController,
  steadyLevelOf,
  togglePeriods,
  type BlinkPattern,
  type LedPatternOutput,
} from '../../src/device/led-controller.js';
import { SimulatedGpioLine } from '../../src/device/sysfs-gpio.js';
import { FakeClock } from '../support/fake-clock.js';

/** Levels and how long each lasted on the line, sampled every 10 ms over `ms`. */
function trace(line: SimulatedGpioLine, clock: FakeClock, ms: number): Array<[number, number]> {
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
  return out;
}

function setup(): { clock: FakeClock; line: SimulatedGpioLine; led: LedController } {
  const clock = new FakeClock();
  const line = new SimulatedGpioLine(21);
  const led = new LedController(line, clock);
  led.start();
  return { clock, line, led };
}

describe('LED priority', () => {
  it('not recording: 3 flashes of 100 ms, then dark until the next burst 2 s after the first', () => {
    const { clock, line, led } = setup();
    led.setMode('streaming');
    led.setNotRecording(true);
    assert.equal(led.describe, 'not-recording');
    assert.equal(led.pattern, LED_PATTERNS.error);
    const levels = trace(line, clock, 4100);
    assert.deepEqual(levels.slice(0, 12), [
      [1, 100],
      [0, 100],
      [1, 100],
      [0, 100],
      [1, 100],
      [0, 1500],
      [1, 100],
      [0, 100],
      [1, 100],
      [0, 100],
      [1, 100],
      [0, 1500],
    ]);
    led.setNotRecording(false);
    assert.equal(led.describe, 'streaming');
    assert.deepEqual(
      trace(line, clock, 2700).slice(0, 2),
      [
        [1, 1200],
        [0, 100],
      ],
      'back to the mode pattern',
    );
    led.close();
    assert.equal(clock.pending, 0);
  });

  it('blink-on and blink-off never hide the alarm; blink shows again once it clears', () => {
    const { clock, line, led } = setup();
    led.setMode('recording');
    led.setNotRecording(true);
    led.setBlink(true);
    assert.equal(led.describe, 'not-recording', 'blink-on is below the alarm');
    led.setBlink(false);
    assert.equal(led.describe, 'not-recording', 'blink-off does not end the alarm');
    assert.deepEqual(trace(line, clock, 2000).slice(0, 6), [
      [1, 100],
      [0, 100],
      [1, 100],
      [0, 100],
      [1, 100],
      [0, 1500],
    ]);
    led.setBlink(true);
    led.setNotRecording(false);
    assert.equal(led.describe, 'blink');
    assert.deepEqual(trace(line, clock, 2300).slice(0, 3), [
      [1, 100],
      [0, 1000],
      [1, 100],
    ]);
    led.close();
  });

  it('a marked moment is solid for 1 s above blink and the mode, below the alarm', () => {
    const { clock, line, led } = setup();
    led.setMode('streaming');
    led.setBlink(true);
    led.markMoment();
    assert.equal(led.describe, 'moment');
    assert.equal(line.level, 1);
    clock.advance(990);
    assert.equal(line.level, 1, 'solid for the whole second');
    clock.advance(10);
    assert.equal(led.describe, 'blink', 'then back to blink');
    led.markMoment();
    led.setNotRecording(true);
    assert.equal(led.describe, 'not-recording', 'the alarm outranks a moment');
    led.setNotRecording(false);
    assert.equal(led.describe, 'moment', 'the moment still runs under it');
    clock.advance(1000);
    assert.equal(led.describe, 'blink');
    led.close();
    assert.equal(clock.pending, 0, 'close() clears the moment timer too');
  });

  it('low battery outranks the alarm; the alarm returns after the flash', async () => {
    const { clock, line, led } = setup();
    led.setMode('streaming');
    led.setNotRecording(true);
    const done = led.flashLowBattery(3000);
    assert.equal(led.describe, 'low-battery');
    const flashes = trace(line, clock, 3000);
    assert.ok(flashes.length >= 58 && flashes.every(([, ms]) => ms === 50), 'fast 50/50 flashing');
    await done;
    assert.equal(led.describe, 'not-recording');
    assert.deepEqual(trace(line, clock, 2000).slice(0, 2), [
      [1, 100],
      [0, 100],
    ]);
    led.close();
  });

  it('blink-off: the LED stays off until blink-on or a mode change; the alarm still shows', () => {
    const { clock, line, led } = setup();
    led.setMode('streaming');
    led.setBlink(false);
    assert.equal(led.describe, 'blink-off');
    assert.equal(line.level, 0);
    assert.deepEqual(trace(line, clock, 5000), [], 'dark, no blinking');
    led.setMode('streaming');
    assert.equal(led.describe, 'blink-off', 'the same mode again is no change');
    led.setNotRecording(true);
    assert.equal(led.describe, 'not-recording', 'blink-off never hides the alarm');
    assert.deepEqual(trace(line, clock, 500).slice(0, 2), [
      [1, 100],
      [0, 100],
    ]);
    led.setNotRecording(false);
    assert.equal(led.describe, 'blink-off', 'and is off again after it');
    led.setBlink(true);
    assert.equal(led.describe, 'blink', 'blink-on ends blink-off');
    led.setBlink(false);
    led.setMode('recording');
    assert.equal(led.describe, 'recording', 'a mode change ends blink-off');
    led.close();
    assert.equal(clock.pending, 0);
  });
});

describe('LED on an output that plays patterns itself', () => {
  class RecordingOutput implements LedPatternOutput {
    shown: Array<[BlinkPattern | null, 0 | 1]> = [];
    show(pattern: BlinkPattern | null, level: 0 | 1): void {
      this.shown.push([pattern, level]);
    }
  }

  it('gets the pattern in force, once per change, and no timers run for blinking', () => {
    const clock = new FakeClock();
    const out = new RecordingOutput();
    const led = new LedController(out, clock);
    led.start();
    led.setMode('streaming');
    clock.advance(10_000);
    led.setBlink(false);
    led.setNotRecording(true);
    led.setNotRecording(false);
    led.markMoment();
    clock.advance(1000);
    assert.deepEqual(out.shown, [
      [null, 0],
      [LED_PATTERNS.streaming, 0],
      [null, 0],
      [LED_PATTERNS.error, 0],
      [null, 0],
      [null, 1],
      [null, 0],
    ]);
    assert.equal(clock.pending, 0, 'no blink timers: the output blinks by itself');
    led.close();
  });

  it('toggle periods start with the on phase; a burst stretches its last off to the period', () => {
    assert.deepEqual(togglePeriods(LED_PATTERNS.streaming), [1200, 100]);
    assert.deepEqual(togglePeriods(LED_PATTERNS.recording), [100, 1200]);
    assert.deepEqual(togglePeriods(LED_PATTERNS.blink), [100, 1000]);
    assert.deepEqual(togglePeriods(LED_PATTERNS.lowBattery), [50, 50]);
    assert.deepEqual(togglePeriods(LED_PATTERNS.error), [100, 100, 100, 100, 100, 1500]);
    const sum = togglePeriods(LED_PATTERNS.error).reduce((a, b) => a + b, 0);
    assert.equal(sum, 2000, 'a burst every 2 s');
  });

  it('a steady stand-in for outputs that cannot blink: only the mostly-off recording pattern is dark', () => {
    assert.equal(steadyLevelOf(LED_PATTERNS.recording), 0);
    for (const p of [LED_PATTERNS.streaming, LED_PATTERNS.blink, LED_PATTERNS.lowBattery, LED_PATTERNS.error])
      assert.equal(steadyLevelOf(p), 1);
  });
});
