/**
 * The slot rules with a fake clock: per-address cap, behind time summed over
 * the sliding 30 s window, drop at the limit, and the eviction choice.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientSlots, MIN_BEHIND_TO_EVICT_MS, slotAddressOf } from '../../src/outputs/client-slots.js';
import { FakeClock } from '../support/fake-clock.js';

function pool(options: { maxClients?: number; maxPerAddress?: number; behindLimitMs?: number } = {}) {
  const clock = new FakeClock(0);
  const slots = new ClientSlots<string>({
    maxClients: options.maxClients ?? 8,
    maxPerAddress: options.maxPerAddress ?? 4,
    behindLimitMs: options.behindLimitMs ?? 10_000,
    clock: clock.now,
  });
  return { clock, slots };
}

describe('ClientSlots', () => {
  it('counts addresses as the same client whatever their spelling', () => {
    assert.equal(slotAddressOf('::ffff:10.0.0.5'), '10.0.0.5');
    assert.equal(slotAddressOf('FE80::1%wlan0'), 'fe80::1');
    assert.equal(slotAddressOf(undefined), '?');
  });

  it('allows maxPerAddress clients from one address and refuses the next with a reason, until one leaves', () => {
    const { slots } = pool({ maxPerAddress: 4 });
    const held = [1, 2, 3, 4].map((i) => {
      assert.deepEqual(slots.admit('10.0.0.9'), { ok: true, evict: undefined });
      return slots.add(i % 2 ? '10.0.0.9' : '::ffff:10.0.0.9', `c${i}`);
    });
    const refused = slots.admit('::ffff:10.0.0.9');
    assert.equal(refused.ok, false);
    assert.equal(!refused.ok && refused.reason, 'per-address');
    assert.match(!refused.ok ? refused.message : '', /already 4 stream connections from 10\.0\.0\.9/);
    assert.equal(slots.admit('10.0.0.10').ok, true, 'another address is not affected');
    held[0]!.release();
    held[0]!.release(); // idempotent
    assert.equal(slots.admit('10.0.0.9').ok, true);
    assert.equal(slots.stats().refused['per-address'], 1);
  });

  it('sums behind time over the last 30 s only', () => {
    const { clock, slots } = pool();
    const slot = slots.add('10.0.0.1', 'a');
    slot.setBehind(true);
    clock.advance(4000);
    slot.setBehind(false);
    clock.advance(1000);
    slot.setBehind(true);
    slot.setBehind(true); // a repeat does not restart the stretch
    clock.advance(3000);
    assert.equal(slot.behindMs(), 7000);
    assert.equal(slot.behind, true);
    slot.setBehind(false);
    clock.advance(24_000); // t = 32 s: the first stretch (0..4 s) is 2 s inside the window
    assert.equal(slot.behindMs(), 2000 + 3000);
    clock.advance(10_000);
    assert.equal(slot.behindMs(), 0, 'everything has left the window');
  });

  it('drops a client behind for the limit out of any 30 s, once, whether in one stretch or many', () => {
    const { clock, slots } = pool({ behindLimitMs: 10_000 });
    const steady = slots.add('10.0.0.1', 'steady');
    const choppy = slots.add('10.0.0.2', 'choppy');
    const healthy = slots.add('10.0.0.3', 'healthy');
    steady.setBehind(true);
    // choppy: behind 2 s of every 3 s (a slow reader that catches up at each drain).
    for (let t = 0; t < 15_000; t += 3000) {
      choppy.setBehind(true);
      clock.advance(2000);
      choppy.setBehind(false);
      healthy.setBehind(true);
      clock.advance(100);
      healthy.setBehind(false);
      clock.advance(900);
      if (t === 6000)
        assert.deepEqual(
          slots.sweep().map((s) => s.client),
          [],
          'nobody at the limit yet',
        );
    }
    const due = slots
      .sweep()
      .map((s) => s.client)
      .sort();
    assert.deepEqual(due, ['choppy', 'steady']);
    assert.deepEqual(slots.sweep(), [], 'each is named once');
    assert.equal(slots.size, 1);
    assert.equal(slots.stats().droppedBehind, 2);
  });

  it('a behind time spread thinly never adds up: 1 s behind every 5 s stays under 10 s of 30 s', () => {
    const { clock, slots } = pool();
    const slot = slots.add('10.0.0.1', 'a');
    for (let i = 0; i < 60; i++) {
      slot.setBehind(true);
      clock.advance(1000);
      slot.setBehind(false);
      clock.advance(4000);
      assert.deepEqual(slots.sweep(), []);
    }
    assert.ok(slot.behindMs() <= 6000);
  });

  it('when full, the client behind longest gives way; when nobody is behind enough, the newcomer is refused', () => {
    const { clock, slots } = pool({ maxClients: 3 });
    const a = slots.add('10.0.0.1', 'a');
    const b = slots.add('10.0.0.2', 'b');
    slots.add('10.0.0.3', 'c');
    const refused = slots.admit('10.0.0.4');
    assert.equal(!refused.ok && refused.reason, 'full');
    // A short hiccup does not make a viewer give way.
    a.setBehind(true);
    clock.advance(MIN_BEHIND_TO_EVICT_MS - 1);
    a.setBehind(false);
    assert.equal(slots.admit('10.0.0.4').ok, false);
    b.setBehind(true);
    clock.advance(3000);
    a.setBehind(true);
    clock.advance(1500);
    const admitted = slots.admit('10.0.0.4');
    assert.ok(admitted.ok);
    assert.equal(admitted.evict?.client, 'b', 'b was behind 4.5 s, a 2.5 s');
    assert.equal(slots.size, 2, 'the slot of b is free');
    slots.add('10.0.0.4', 'd');
    const again = slots.admit('10.0.0.5');
    assert.equal(again.ok && again.evict?.client, 'a');
    assert.deepEqual(
      { ...slots.stats(), refused: slots.stats().refused.full },
      {
        clients: 2,
        maxClients: 3,
        maxPerAddress: 4,
        behindLimitMs: 10_000,
        windowMs: 30_000,
        refused: 2,
        evicted: 2,
        droppedBehind: 0,
      },
    );
  });

  it('the per-address cap applies before eviction: an address at its cap cannot push anyone out', () => {
    const { clock, slots } = pool({ maxClients: 2, maxPerAddress: 1 });
    const slow = slots.add('10.0.0.1', 'slow');
    slots.add('10.0.0.2', 'other');
    slow.setBehind(true);
    clock.advance(5000);
    const r = slots.admit('10.0.0.2');
    assert.equal(!r.ok && r.reason, 'per-address');
    assert.equal(slots.size, 2);
  });

  it('counts refusals decided by the output and rejects nonsense limits', () => {
    const { slots } = pool();
    slots.noteRefused('not-allowed');
    slots.noteRefused('not-streaming');
    assert.deepEqual(slots.stats().refused, {
      full: 0,
      'per-address': 0,
      'not-allowed': 1,
      'not-streaming': 1,
      closing: 0,
    });
    assert.throws(
      () => new ClientSlots({ maxClients: 0, maxPerAddress: 1, behindLimitMs: 1, clock: () => 0 }),
      RangeError,
    );
  });
});
