/**
 * The event-loop delay behind /metrics: a loop blocked for 80 ms shows up as
 * a sample above 20 ms (the sampling interval is left out of the delay), in
 * buckets that are cumulative and end with the count.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventLoopDelayMonitor } from '../../src/util/event-loop-delay.js';
import { waitFor } from '../support/wait.js';

test('EventLoopDelayMonitor: a blocked loop lands above 20 ms; buckets cumulative, +Inf = count', async () => {
  const monitor = new EventLoopDelayMonitor(10);
  monitor.start();
  try {
    await waitFor(() => monitor.count >= 3, 'first samples');
    const end = performance.now() + 80;
    while (performance.now() < end) {
      // block the loop on purpose
    }
    const before = monitor.count;
    await waitFor(() => monitor.count > before, 'the sample after the block');
    const h = monitor.buckets();
    const counts = h.buckets.map(([, n]) => n);
    assert.deepEqual(
      counts,
      [...counts].sort((a, b) => a - b),
    );
    assert.equal(h.buckets.at(-1)?.[0], Number.POSITIVE_INFINITY);
    assert.equal(counts.at(-1), h.count);
    const upTo20ms = h.buckets.find(([le]) => le === 0.02)?.[1] ?? 0;
    assert.ok(upTo20ms < h.count, `no sample above 20 ms: ${JSON.stringify(h.buckets)}`);
    assert.ok((monitor.quantileMs(1) ?? 0) >= 20);
    assert.ok(h.sumSeconds > 0);
  } finally {
    monitor.stop();
  }
});
