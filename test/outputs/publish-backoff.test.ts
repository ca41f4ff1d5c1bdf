/**
 * Reconnect schedule of a publisher, on a fake clock: the backoff's delays
 * (exponential, jittered, capped, reset after a good run) and the
 * publisher's use of them (one log line per distinct failure, retries only
 * when the clock says so, no ffmpeg: a status and a slow retry).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StreamHub } from '../../src/hub/stream-hub.js';
import { Logger } from '../../src/log/logger.js';
import { PublishBackoff } from '../../src/outputs/publish-backoff.js';
import { Publisher } from '../../src/outputs/publisher.js';
import { parsePublishTarget } from '../../src/util/publish-url.js';
import { FakeClock } from '../support/fake-clock.js';
import { waitFor } from '../support/wait.js';

describe('PublishBackoff', () => {
  it('doubles from 1 s to 30 s, jittered over the upper half of each step', () => {
    const low = new PublishBackoff({ random: () => 0 });
    assert.deepEqual(
      Array.from({ length: 7 }, () => low.next(0)),
      [500, 1000, 2000, 4000, 8000, 15_000, 15_000],
    );
    const high = new PublishBackoff({ random: () => 0.999999 });
    assert.deepEqual(
      Array.from({ length: 7 }, () => high.next(0)),
      [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000],
    );
  });

  it('starts again from the first delay after a run that published long enough', () => {
    const b = new PublishBackoff({ random: () => 0.999999 });
    b.next(0);
    b.next(0);
    assert.equal(b.next(0), 4000);
    assert.equal(b.next(9_999), 8000, 'a short run does not reset');
    assert.equal(b.next(10_000), 1000);
  });
});

/** A logger that keeps its lines. */
function memoryLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = new Logger({ level: 'debug', sink: (line: string) => lines.push(line) });
  return { logger, lines };
}

describe('Publisher retries (fake clock, a real child that fails)', () => {
  it('retries on the backoff schedule, logging the same failure once', async () => {
    const clock = new FakeClock();
    const { logger, lines } = memoryLogger();
    const hub = new StreamHub({ clock: clock.now });
    // /bin/false stands in for an ffmpeg whose server refuses: a real process that exits 1 at once.
    const publisher = new Publisher({
      target: parsePublishTarget('rtsp://u:topsecret@127.0.0.1:1/x'),
      index: 0,
      name: 'cam',
      hub,
      findFfmpeg: () => '/bin/false',
      backoff: new PublishBackoff({ random: () => 0.999999 }),
      logger,
      clock,
    });
    publisher.start();
    await waitFor(() => publisher.status().state === 'retrying', 'the first failure');
    assert.equal(publisher.status().retryInMs, 1000);
    assert.equal(publisher.status().lastErrorCode, 'ERR_PUBLISH_EXITED');
    // Nothing happens until the clock moves.
    clock.advance(999);
    assert.equal(publisher.status().state, 'retrying');
    clock.advance(1);
    assert.equal(publisher.status().state, 'connecting');
    await waitFor(() => publisher.status().state === 'retrying', 'the second failure');
    assert.equal(publisher.status().retryInMs, 2000);
    clock.advance(2000);
    await waitFor(() => publisher.status().state === 'retrying' && publisher.status().reconnects === 2, 'third');
    assert.equal(publisher.status().retryInMs, 4000);
    const errorLines = lines.filter((l) => /ERROR/.test(l));
    assert.equal(errorLines.length, 1, lines.join('\n'));
    assert.match(
      errorLines[0] ?? '',
      /cannot publish to rtsp:\/\/\*\*\*:\*\*\*@127\.0\.0\.1:1\/x: ffmpeg exit code 1; retrying in 1\.0 s/,
    );
    assert.doesNotMatch(lines.join('\n'), /topsecret/);
    await publisher.close();
    assert.equal(publisher.status().state, 'stopped');
    assert.equal(clock.pending, 0, 'no timer left');
  });

  it('without ffmpeg: state unavailable, looked for again every minute', async () => {
    const clock = new FakeClock();
    const { logger, lines } = memoryLogger();
    let found: string | undefined;
    let lookups = 0;
    const publisher = new Publisher({
      target: parsePublishTarget('srt://127.0.0.1:9000'),
      index: 1,
      name: 'cam',
      hub: new StreamHub({ clock: clock.now }),
      findFfmpeg: () => {
        lookups++;
        return found;
      },
      logger,
      clock,
    });
    publisher.start();
    const s = publisher.status();
    assert.equal(s.state, 'unavailable');
    assert.equal(s.lastErrorCode, 'ERR_PUBLISH_NO_FFMPEG');
    assert.equal(s.retryInMs, 60_000);
    clock.advance(60_000);
    assert.equal(lookups, 2);
    assert.equal(lines.filter((l) => /no ffmpeg found/.test(l) && /ERROR/.test(l)).length, 1);
    found = '/bin/false';
    clock.advance(60_000);
    assert.equal(publisher.status().state, 'connecting', 'found now: it runs');
    await publisher.close();
  });
});
