import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { defaultConfig, mergeConfig } from '../../src/config.js';
import { ConfigError, hasCode, SourceError, type RearviewError } from '../../src/errors.js';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import type { CaptureSource, SourceSink } from '../../src/sources/capture-source.js';
import { createSource } from '../../src/sources/create-source.js';
import type { ProcessSource } from '../../src/sources/process-source.js';
import { SourceSupervisor } from '../../src/sources/source-supervisor.js';
import { scratchDir } from '../support/paths.js';
import { CollectingSink, fakeEnv, fakeSourceClock, memoryLogger, pidAlive, readLaunches } from './source-fixtures.js';
import { waitFor } from '../support/wait.js';

const au = (isKey: boolean): AccessUnit => ({
  nals: [],
  isKey,
  sliceTypes: [],
  poc: null,
  structure: 'frame',
  sps: undefined,
  pps: undefined,
  offset: 0,
  byteLength: 0,
});

/** A CaptureSource driven by the test. */
class ScriptedSource implements CaptureSource {
  sink: SourceSink | undefined;
  closed = 0;
  private exitCb: ((e: RearviewError | undefined) => void) | undefined;
  constructor(
    readonly name: string,
    private readonly startResult: () => Promise<void> = () => Promise.resolve(),
    readonly restartable = true,
  ) {}
  start(sink: SourceSink): Promise<void> {
    this.sink = sink;
    return this.startResult();
  }
  onExit(cb: (e: RearviewError | undefined) => void): void {
    this.exitCb = cb;
  }
  async close(): Promise<void> {
    this.closed++;
  }
  frame(isKey = false): void {
    this.sink!.accessUnit(au(isKey), 0);
  }
  exit(error?: RearviewError): void {
    this.exitCb?.(error);
  }
}

/** Lets pending promise callbacks (source start/close) run. */
const settle = () => new Promise((r) => setImmediate(r));

function setup(factory: () => CaptureSource, stallMs = 5000) {
  const { clock, fake } = fakeSourceClock(0);
  const sink = new CollectingSink(() => fake.now());
  const { logger, lines } = memoryLogger();
  const supervisor = new SourceSupervisor({
    factory,
    sink,
    logger,
    clock,
    stallMs,
    backoff: { initialMs: 250, maxMs: 2000 },
  });
  return { supervisor, sink, fake, lines };
}

describe('SourceSupervisor', () => {
  it('restarts an exited source with exponential backoff and announces each new run', async () => {
    const runs: ScriptedSource[] = [];
    const t = setup(() => {
      const s = new ScriptedSource('cam');
      runs.push(s);
      return s;
    });
    await t.supervisor.start();
    assert.equal(t.supervisor.state, 'running');
    runs[0]!.frame(true);
    runs[0]!.exit(new SourceError('ERR_SOURCE_EXITED', 'rpicam-vid exited with code 255'));
    assert.equal(t.supervisor.state, 'backoff');
    assert.equal(runs[0]!.closed, 1, 'the exited run is closed (its process group killed)');
    t.fake.advance(249);
    await settle();
    assert.equal(runs.length, 1);
    t.fake.advance(1);
    await settle();
    assert.equal(runs.length, 2, 'restarted after 250 ms');
    assert.equal(t.supervisor.state, 'running');
    assert.equal(t.supervisor.restarts, 1);
    assert.deepEqual(t.sink.discontinuities, ['source restarted after: rpicam-vid exited with code 255']);
    runs[1]!.frame(true);
    assert.equal(t.sink.events.at(-1)!.kind, 'au', 'the discontinuity came before the new run’s frames');
    // Failing again at once: 500 ms, then 1000 ms, then capped at 2000 ms.
    const delays: number[] = [];
    for (let i = 1; i <= 4; i++) {
      const before = t.fake.now();
      runs[i]!.exit(new SourceError('ERR_SOURCE_EXITED', 'rpicam-vid exited with code 255'));
      while (runs.length === i + 1) {
        t.fake.advance(50);
        await settle();
      }
      delays.push(t.fake.now() - before);
    }
    assert.deepEqual(delays, [500, 1000, 2000, 2000]);
    const status = t.supervisor.status();
    assert.equal(status.restarts, 5);
    assert.equal(status.lastError?.code, 'ERR_SOURCE_EXITED');
    // Identical failures are logged once at warn level, the repeats at debug.
    assert.equal(t.lines.filter((l) => l.includes('WARN') && l.includes('code 255')).length, 2, t.lines.join('\n'));
    await t.supervisor.close();
  });

  it('restarts a source that stalls, and one that never finishes starting', async () => {
    const runs: ScriptedSource[] = [];
    const t = setup(() => {
      const s =
        runs.length === 1
          ? new ScriptedSource('cam', () => new Promise<void>(() => undefined))
          : new ScriptedSource('cam');
      runs.push(s);
      return s;
    }, 1000);
    await t.supervisor.start();
    t.fake.advance(600);
    runs[0]!.frame(true);
    t.fake.advance(999);
    assert.equal(t.supervisor.state, 'running', 'frames keep it alive');
    t.fake.advance(1);
    assert.equal(t.supervisor.state, 'backoff');
    assert.equal(t.supervisor.status().lastError?.code, 'ERR_SOURCE_STALLED');
    assert.match(t.supervisor.status().lastError!.message, /cam delivered no video for 1000 ms/);
    t.fake.advance(250);
    await settle();
    assert.equal(runs.length, 2);
    assert.equal(t.supervisor.state, 'starting');
    t.fake.advance(1000);
    await settle();
    assert.match(t.supervisor.status().lastError!.message, /cam did not start for 1000 ms/);
    assert.equal(runs[1]!.closed, 1);
    t.fake.advance(500);
    await settle();
    assert.equal(runs.length, 3);
    assert.equal(t.supervisor.state, 'running');
    await t.supervisor.close();
  });

  it('resets the backoff after a run that delivered video for stableMs', async () => {
    const runs: ScriptedSource[] = [];
    const t = setup(() => {
      const s = new ScriptedSource('cam');
      runs.push(s);
      return s;
    }, 0);
    await t.supervisor.start();
    for (let i = 0; i < 3; i++) {
      runs[i]!.exit(new SourceError('ERR_SOURCE_EXITED', `boom ${i}`));
      t.fake.advance(2000);
      await settle();
    }
    assert.equal(runs.length, 4);
    runs[3]!.frame(true);
    t.fake.advance(10_000);
    runs[3]!.exit(new SourceError('ERR_SOURCE_EXITED', 'boom after a long run'));
    t.fake.advance(249);
    await settle();
    assert.equal(runs.length, 4);
    t.fake.advance(1);
    await settle();
    assert.equal(runs.length, 5, 'back to the first delay');
    await t.supervisor.close();
  });

  it('ignores frames from a run it has already replaced', async () => {
    const runs: ScriptedSource[] = [];
    const t = setup(() => {
      const s = new ScriptedSource('cam');
      runs.push(s);
      return s;
    });
    await t.supervisor.start();
    runs[0]!.exit(new SourceError('ERR_SOURCE_EXITED', 'gone'));
    runs[0]!.frame(true);
    t.fake.advance(250);
    await settle();
    runs[0]!.frame(true);
    assert.equal(t.sink.accessUnits.length, 0);
    await t.supervisor.close();
  });

  it('fails fast at start-up on a permanent error, retries a transient one', async () => {
    const bad = setup(() => {
      throw new ConfigError('unknown source "x"');
    });
    await assert.rejects(bad.supervisor.start(), (err) => hasCode(err, 'ERR_CONFIG'));
    assert.equal(bad.supervisor.state, 'stopped');
    assert.equal(bad.fake.pending, 0);

    let attempts = 0;
    const t = setup(() => {
      attempts++;
      return new ScriptedSource('tcp://cam:5000', () =>
        attempts < 3
          ? Promise.reject(new SourceError('ERR_SOURCE_CONNECT', 'cannot connect to tcp://cam:5000: ECONNREFUSED'))
          : Promise.resolve(),
      );
    });
    await t.supervisor.start();
    assert.equal(t.supervisor.state, 'backoff');
    t.fake.advance(250);
    await settle();
    t.fake.advance(500);
    await settle();
    assert.equal(attempts, 3);
    assert.equal(t.supervisor.state, 'running');
    assert.equal(
      t.lines.filter((l) => l.includes('ECONNREFUSED') && l.includes('WARN')).length,
      1,
      'logged once per state change',
    );
    await t.supervisor.close();
  });

  it('stops when the source cannot be restarted (standard input ended)', async () => {
    const t = setup(() => new ScriptedSource('stdin', undefined, false));
    const stopped: RearviewError[] = [];
    t.supervisor.onStopped((e) => stopped.push(e));
    await t.supervisor.start();
    (t.supervisor.currentSource as ScriptedSource).exit(new SourceError('ERR_SOURCE_EXITED', 'stdin: end of stream'));
    assert.equal(t.supervisor.state, 'stopped');
    assert.equal(stopped.length, 1);
    t.fake.advance(60_000);
    await settle();
    assert.equal(t.supervisor.status().runs, 1);
    await t.supervisor.close();
  });

  it('close() settles start() even when the source never finishes starting', async () => {
    const source = new ScriptedSource('cam', () => new Promise<void>(() => undefined));
    const t = setup(() => source);
    const started = t.supervisor.start();
    await settle();
    assert.equal(t.supervisor.state, 'starting');
    await t.supervisor.close();
    await started;
    assert.equal(source.closed, 1);
    assert.equal(t.fake.pending, 0);
  });

  it('close() during backoff stops everything and is idempotent', async () => {
    const runs: ScriptedSource[] = [];
    const t = setup(() => {
      const s = new ScriptedSource('cam');
      runs.push(s);
      return s;
    });
    await t.supervisor.start();
    runs[0]!.exit(new SourceError('ERR_SOURCE_EXITED', 'gone'));
    await Promise.all([t.supervisor.close(), t.supervisor.close()]);
    assert.equal(t.supervisor.state, 'closed');
    t.fake.advance(60_000);
    await settle();
    assert.equal(runs.length, 1);
    assert.equal(t.fake.pending, 0);
  });
});

describe('SourceSupervisor with a real process', () => {
  it('restarts an encoder that exits, and leaves no process behind on close', async () => {
    const { dir, cleanup } = scratchDir();
    const log = join(dir, 'launches.jsonl');
    const { clock, fake } = fakeSourceClock(0);
    const config = mergeConfig(defaultConfig(), { source: 'rpicam' });
    const { logger } = memoryLogger();
    const env = fakeEnv({ FAKE_ENCODER_LOG: log, FAKE_ENCODER_FRAMES: '30', FAKE_ENCODER_CHILD: '1' });
    // The process runner's kill grace stays on real time; backoff and stall use the fake clock.
    const sink = new CollectingSink();
    const supervisor = new SourceSupervisor({
      factory: () => createSource(config, logger, { env }),
      sink,
      logger,
      clock,
      stallMs: 0,
    });
    try {
      await supervisor.start();
      await waitFor(() => supervisor.state === 'backoff', 'the first run to end');
      assert.equal(sink.accessUnits.length, 30);
      fake.advance(250);
      await waitFor(() => readLaunches(log).length === 2 && supervisor.state === 'running', 'the second run');
      const pid = (supervisor.currentSource as ProcessSource).pid!;
      assert.ok(pidAlive(pid) || sink.accessUnits.length > 30);
      await waitFor(() => sink.accessUnits.length === 60, 'the second run’s frames');
      assert.equal(sink.discontinuities.length, 1);
      const firstOfRun2 = sink.events.findIndex((e) => e.kind === 'discontinuity') + 1;
      assert.equal(sink.accessUnits[30]!.au.isKey, true, 'the new run starts with a keyframe');
      assert.equal(sink.events[firstOfRun2]!.kind, 'au');
    } finally {
      await supervisor.close();
      cleanup();
    }
    for (const launch of readLaunches(log)) {
      await waitFor(
        () => !pidAlive(launch.pid) && !pidAlive(launch.childPid!),
        `process ${launch.pid} and its helper to be gone`,
        5000,
      );
    }
  });
});
