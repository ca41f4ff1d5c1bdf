/** Modes and the streaming window, driven by a fake clock (no sleeping). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../support/fake-clock.js';
import { Logger } from '../../src/log/logger.js';
import { ModeController, type ModeState } from '../../src/modes/mode-controller.js';

function make(mode: 'simultaneous' | 'exclusive', windowMs = 60_000) {
  const clock = new FakeClock();
  const lines: string[] = [];
  const logger = new Logger({ level: 'info', sink: (l) => lines.push(l) });
  const modes = new ModeController({ mode, streamWindowMs: windowMs, clock, logger });
  const changes: ModeState[] = [];
  modes.onChange((s) => changes.push(s));
  return { clock, modes, changes, lines };
}

describe('ModeController', () => {
  it('simultaneous: streams and records always, whatever clients do', () => {
    const { clock, modes } = make('simultaneous');
    modes.start();
    assert.equal(modes.state.activity, 'both');
    assert.equal(modes.state.windowEndsAtMs, null);
    modes.clientConnected();
    modes.clientDisconnected();
    modes.restartStreamMode();
    clock.advance(10 * 60_000);
    assert.deepEqual([modes.state.streaming, modes.state.recording], [true, true]);
    assert.equal(modes.acceptsStreamClients(), true);
  });

  it('exclusive: no client within the window switches to recording at its end', () => {
    const { clock, modes, changes, lines } = make('exclusive');
    const t0 = clock.now();
    modes.start();
    assert.equal(modes.state.activity, 'streaming');
    assert.equal(modes.state.windowEndsAtMs, t0 + 60_000);
    assert.equal(modes.state.reason, 'start-up');
    assert.equal(modes.state.recording, false, 'the recorder pauses while streaming');
    clock.advance(59_999);
    assert.equal(modes.state.activity, 'streaming');
    clock.advance(1);
    assert.equal(modes.state.activity, 'recording');
    assert.equal(modes.state.reason, 'no stream client within 60 s');
    assert.equal(modes.state.windowEndsAtMs, null);
    assert.equal(modes.acceptsStreamClients(), false);
    assert.deepEqual(
      changes.map((c) => c.activity),
      ['streaming', 'recording'],
    );
    assert.ok(
      lines.some((l) => /mode exclusive: recording \(no stream client within 60 s\)/.test(l)),
      'logged',
    );
  });

  it('exclusive: a client in the window holds the stream; the last one leaving switches to recording', () => {
    const { clock, modes } = make('exclusive');
    modes.start();
    clock.advance(10_000);
    modes.clientConnected();
    modes.clientConnected();
    assert.equal(modes.state.windowEndsAtMs, null);
    clock.advance(120_000);
    assert.equal(modes.state.activity, 'streaming', 'the window does not cut a connected client');
    modes.clientDisconnected();
    assert.equal(modes.state.activity, 'streaming');
    modes.clientDisconnected();
    assert.equal(modes.state.activity, 'recording');
    assert.equal(modes.state.reason, 'last stream client left');
  });

  it('exclusive: restart-stream-mode reopens the window and, inside it, extends it', () => {
    const { clock, modes } = make('exclusive', 30_000);
    modes.start();
    clock.advance(30_000);
    assert.equal(modes.state.activity, 'recording');
    const t1 = clock.now();
    modes.restartStreamMode();
    assert.equal(modes.state.activity, 'streaming');
    assert.equal(modes.state.windowEndsAtMs, t1 + 30_000);
    clock.advance(20_000);
    modes.restartStreamMode();
    assert.equal(modes.state.windowEndsAtMs, t1 + 50_000, 'extended from the second request');
    clock.advance(29_999);
    assert.equal(modes.state.activity, 'streaming');
    clock.advance(1);
    assert.equal(modes.state.activity, 'recording');
    assert.equal(clock.pending, 0, 'no timer left behind');
  });

  it('exclusive: a new window length applies from the next window', () => {
    const { clock, modes } = make('exclusive', 60_000);
    modes.start();
    modes.setStreamWindowMs(5_000);
    clock.advance(60_000);
    modes.restartStreamMode();
    assert.equal(modes.state.windowEndsAtMs, clock.now() + 5_000);
    modes.close();
    assert.equal(clock.pending, 0);
  });
});
