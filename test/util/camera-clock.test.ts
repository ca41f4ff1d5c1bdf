/** The camera's clock: when its time can be believed, and what a client or network time changes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CameraClock,
  CLOCK_FLOOR_MS,
  probeSystemTime,
  type CameraClockChange,
  type SystemTimeFacts,
} from '../../src/util/camera-clock.js';
import type { Clock } from '../../src/util/clock.js';
import { FakeClock } from '../support/fake-clock.js';

const AFTER_FLOOR = CLOCK_FLOOR_MS + 86_400_000;
const PHONE_MS = Date.UTC(2027, 5, 1, 12, 0, 0);

/**
 * The fake clock with a system wall clock that can be stepped apart from
 * the monotonic one (`wallStepMs`), as NTP or `date -s` step it.
 */
function steppable(startMs: number): Clock & { fake: FakeClock; wallStepMs: number } {
  const fake = new FakeClock(startMs);
  const base = {
    fake,
    wallStepMs: 0,
    monoNow: () => fake.nowMs,
    wallNow: () => fake.nowMs + base.wallStepMs,
    setTimeout: (fn: () => void, ms: number) => fake.setTimeout(fn, ms),
    clearTimeout: (h: unknown) => fake.clearTimeout(h),
  };
  return base;
}

function clockWith(startMs: number, facts: SystemTimeFacts | (() => SystemTimeFacts)) {
  const base = steppable(startMs);
  const fake = base.fake;
  const changes: CameraClockChange[] = [];
  const clock = new CameraClock({
    base,
    probe: async () => (typeof facts === 'function' ? facts() : facts),
    pollMs: 1000,
  });
  clock.onChange((c) => changes.push(c));
  return { fake, clock, changes, base };
}

test('network time makes the clock valid, and the system time is used', async () => {
  const { clock, fake } = clockWith(AFTER_FLOOR, { ntpSynchronized: true, hasRtc: false });
  await clock.start();
  assert.deepEqual(clock.state, { set: true, source: 'ntp', reason: null });
  fake.advance(5000);
  assert.equal(clock.wallNow(), AFTER_FLOOR + 5000);
  assert.equal(fake.pending, 0, 'no more polling once synchronised');
  clock.close();
});

test('a system time before the floor is never valid (1970 after a boot)', async () => {
  const { clock } = clockWith(0, { ntpSynchronized: false, hasRtc: undefined });
  await clock.start();
  assert.equal(clock.isSet, false);
  assert.match(clock.state.reason ?? '', /^clock not set: the system clock says 1970-01-01/);
  assert.equal(clock.validNow(), undefined);
  clock.close();
});

test('past the floor without a real-time clock or network time (a time fake-hwclock restored) is not valid', async () => {
  const { clock, changes } = clockWith(AFTER_FLOOR, { ntpSynchronized: false, hasRtc: false });
  assert.equal(clock.isSet, true, 'before asking, a time past the floor is taken');
  await clock.start();
  assert.equal(clock.isSet, false);
  assert.match(clock.state.reason ?? '', /no real-time clock and no network time/);
  assert.deepEqual(
    changes.map((c) => [c.state.set, c.correctionMs]),
    [[false, null]],
  );
  clock.close();
});

test('past the floor with a real-time clock, or where the system cannot say, the system time is valid', async () => {
  for (const facts of [
    { ntpSynchronized: false, hasRtc: true },
    { ntpSynchronized: undefined, hasRtc: undefined },
  ]) {
    const { clock } = clockWith(AFTER_FLOOR, facts);
    await clock.start();
    assert.deepEqual(clock.state, { set: true, source: 'system', reason: null }, JSON.stringify(facts));
    clock.close();
  }
});

test('a probe that fails tells nothing: the floor decides', async () => {
  const fake = new FakeClock(0);
  const clock = new CameraClock({
    base: fake,
    probe: async () => {
      throw new Error('no timedatectl');
    },
  });
  await clock.start();
  assert.equal(clock.isSet, false);
  clock.close();
});

test('the first client sets the clock; provisional times get the correction; later clients change nothing', async () => {
  const { clock, fake, changes } = clockWith(1_000, { ntpSynchronized: false, hasRtc: false });
  await clock.start();
  fake.advance(9_000); // 10 s after boot: provisional time 1970-01-01T00:00:10Z
  const stampedBefore = clock.wallNow();
  assert.equal(stampedBefore, 10_000);
  assert.equal(clock.isProvisional(stampedBefore), true);

  assert.equal(clock.setFromClient(PHONE_MS), true);
  assert.deepEqual(clock.state, { set: true, source: 'client', reason: null });
  assert.equal(clock.wallNow(), PHONE_MS);
  assert.deepEqual(
    changes.map((c) => c.correctionMs),
    [PHONE_MS - 10_000],
  );
  // What was stamped before is provisional and corrected; what is stamped after is not.
  assert.equal(clock.corrected(stampedBefore), PHONE_MS);
  fake.advance(2000);
  const stampedAfter = clock.wallNow();
  assert.equal(stampedAfter, PHONE_MS + 2000);
  assert.equal(clock.isProvisional(stampedAfter), false);
  assert.equal(clock.corrected(stampedAfter), stampedAfter);

  assert.equal(clock.setFromClient(PHONE_MS + 60_000), false, 'the first client wins');
  assert.equal(clock.wallNow(), PHONE_MS + 2000);
  clock.close();
});

test('a client time outside [floor, 2100) is refused', () => {
  const { clock } = clockWith(0, { ntpSynchronized: false, hasRtc: false });
  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, -1, 0, CLOCK_FLOOR_MS - 1, Date.UTC(2100, 0, 1)])
    assert.throws(() => clock.setFromClient(bad), RangeError, String(bad));
  assert.equal(clock.isSet, false);
  assert.equal(clock.setFromClient(CLOCK_FLOOR_MS), true);
});

test('network time, once there, wins over the client (no second correction)', async () => {
  let ntp = false;
  const { clock, fake, changes, base } = clockWith(0, () => ({ ntpSynchronized: ntp, hasRtc: false }));
  await clock.start();
  clock.setFromClient(PHONE_MS);
  // timesyncd steps the system clock (250 ms later than the phone said) and says so.
  base.wallStepMs = PHONE_MS + 250;
  ntp = true;
  fake.advance(1000); // the next poll
  await clock.check();
  assert.equal(clock.state.source, 'ntp');
  assert.equal(clock.wallNow(), PHONE_MS + 1250);
  assert.deepEqual(
    changes.map((c) => [c.state.source, c.correctionMs === null]),
    [
      ['client', false],
      ['ntp', true],
    ],
  );
  clock.close();
});

test('polling finds network time that arrives later; a clock once valid stays valid', async () => {
  let ntp = false;
  const { clock, fake, changes, base } = clockWith(0, () => ({ ntpSynchronized: ntp, hasRtc: false }));
  await clock.start();
  fake.advance(1000);
  await clock.check();
  assert.equal(clock.isSet, false);
  base.wallStepMs = PHONE_MS - 1000; // NTP stepped the system clock: it says PHONE_MS now
  ntp = true;
  await clock.check();
  assert.deepEqual(clock.state, { set: true, source: 'ntp', reason: null });
  assert.equal(changes.at(-1)?.correctionMs, PHONE_MS - 1000);
  assert.equal(clock.corrected(1000), PHONE_MS);
  // NTP lost later: the time stays valid (what was stamped with it is not provisional).
  ntp = false;
  await clock.check();
  assert.equal(clock.state.source, 'ntp', 'no more polling after NTP; a check keeps it');
  clock.close();
});

test('probeSystemTime answers on any machine (undefined where it cannot tell)', async () => {
  const facts = await probeSystemTime();
  for (const v of [facts.ntpSynchronized, facts.hasRtc]) assert.ok(v === undefined || typeof v === 'boolean');
});
