/**
 * The WebRTC slow-viewer rule on a fake clock: receiver reports parsed from
 * real RTCP bytes, the lag from their round trip and from their silence, the
 * skip to keyframes and the return to the whole stream at the next keyframe.
 * The real thing (a viewer process stopped with SIGSTOP against a daemon) is
 * in test/web/webrtc-slow-viewer.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseReceiverReports,
  REPORT_INTERVAL_SLACK_MS,
  reportDelayUnits,
  WebRtcCatchUp,
  type ReceiverReport,
} from '../../src/outputs/webrtc-catch-up.js';

const SSRC = 0x1234_5678;

/** An RTCP RR (RFC 3550 6.4.2) from `reporter` with one block per entry. */
function rr(blocks: { ssrc: number; seq: number; lsr?: number; dlsr?: number; lost?: number }[]): Buffer {
  const out = Buffer.alloc(8 + 24 * blocks.length);
  out[0] = 0x80 | blocks.length;
  out[1] = 201;
  out.writeUInt16BE(out.length / 4 - 1, 2);
  out.writeUInt32BE(0xdead_beef, 4);
  blocks.forEach((b, i) => {
    const at = 8 + 24 * i;
    out.writeUInt32BE(b.ssrc >>> 0, at);
    out[at + 4] = b.lost ?? 0;
    out.writeUInt32BE(b.seq >>> 0, at + 8);
    out.writeUInt32BE((b.lsr ?? 0) >>> 0, at + 16);
    out.writeUInt32BE((b.dlsr ?? 0) >>> 0, at + 20);
  });
  return out;
}

/** A PLI (RFC 4585 6.3.1), as browsers put after a report in one compound packet. */
function pli(): Buffer {
  const out = Buffer.alloc(12);
  out[0] = 0x81;
  out[1] = 206;
  out.writeUInt16BE(2, 2);
  out.writeUInt32BE(SSRC, 8);
  return out;
}

/** Middle 32 bits of an NTP time `ms` (any origin). */
function ntpMid(ms: number): number {
  return Math.floor(((ms / 1000) * 65536) % 0x1_0000_0000);
}

/** An offset between our clock and the sender reports' NTP times (libdatachannel's is its own). */
const SR_CLOCK_OFFSET_MS = 3_912_345_678.9;

describe('RTCP receiver reports', () => {
  it('reads the blocks about our SSRC from a compound packet, and nothing from garbage', () => {
    const packet = Buffer.concat([
      rr([
        { ssrc: 7, seq: 1 },
        { ssrc: SSRC, seq: 70_000, lsr: 5, dlsr: 6, lost: 64 },
      ]),
      pli(),
    ]);
    assert.deepEqual(parseReceiverReports(packet, SSRC), [
      { highestSeq: 70_000, fractionLost: 0.25, lastSr: 5, delaySinceLastSr: 6 },
    ]);
    assert.deepEqual(parseReceiverReports(Buffer.from('hello world, not RTCP'), SSRC), []);
    // A length running past the end is ignored, not read past.
    const cut = rr([{ ssrc: SSRC, seq: 1 }]).subarray(0, 20);
    assert.deepEqual(parseReceiverReports(cut, SSRC), []);
  });

  it('takes arrival - LSR - DLSR in 1/65536 s, modulo 2^32', () => {
    const now = 1_700_000;
    const report: ReceiverReport = {
      highestSeq: 1,
      fractionLost: 0,
      lastSr: ntpMid(now - 300),
      delaySinceLastSr: Math.round(0.1 * 65536),
    };
    const units = reportDelayUnits(report, now) as number;
    assert.ok(Math.abs(units / 65.536 - 200) < 1, `${units / 65.536} ms`);
    assert.equal(reportDelayUnits({ ...report, lastSr: 0 }, now), undefined, 'no sender report yet');
  });
});

describe('WebRtcCatchUp', () => {
  function setup(): { catchUp: WebRtcCatchUp; clock: { now: number }; events: string[] } {
    const clock = { now: 0 };
    const catchUp = new WebRtcCatchUp({ softLimitMs: 500, clock: () => clock.now });
    const events: string[] = [];
    catchUp.onBehindChange = (behind) => events.push(behind ? 'behind' : 'caught-up');
    return { catchUp, clock, events };
  }
  /** A report of `seq`, about a sender report that took `delayMs` to come back (none: no sender report yet). */
  function reportAt(clock: { now: number }, seq: number, delayMs?: number): ReceiverReport {
    return {
      highestSeq: seq,
      fractionLost: 0,
      lastSr: delayMs === undefined ? 0 : ntpMid(clock.now - delayMs + SR_CLOCK_OFFSET_MS),
      delaySinceLastSr: 0,
    };
  }

  it('sends everything while reports keep coming with a short round trip', () => {
    const { catchUp, clock, events } = setup();
    let seq = 100;
    for (let frame = 0; frame < 300; frame++, clock.now += 33) {
      assert.equal(catchUp.decide(frame % 30 === 0), 'send');
      seq += 3;
      if (frame % 30 === 29) catchUp.report(reportAt(clock, seq, 2));
    }
    assert.deepEqual(events, []);
    assert.equal(catchUp.framesDropped, 0);
    assert.ok(catchUp.lagMs() < 500);
  });

  it('does not judge by silence a viewer that never sent a report (no RTCP at all: not a browser)', () => {
    const { catchUp, clock, events } = setup();
    for (let frame = 0; frame < 600; frame++, clock.now += 33) assert.equal(catchUp.decide(frame % 30 === 0), 'send');
    assert.deepEqual(events, []);
    assert.equal(catchUp.lagMs(), 0);
    // Once it has reported, its silence counts.
    catchUp.report(reportAt(clock, 7, 2));
    for (let frame = 0; frame < 120; frame++, clock.now += 33) catchUp.decide(frame % 30 === 0);
    assert.deepEqual(events, ['behind']);
  });

  it('goes behind when the reports stop, sends keyframes only, and is whole again from the keyframe after a good report', () => {
    const { catchUp, clock, events } = setup();
    catchUp.report(reportAt(clock, 10, 1));
    const sent: boolean[] = [];
    // Silence: no report for the whole run below, until frame 160.
    for (let frame = 0; frame < 240; frame++, clock.now += 33) {
      const key = frame % 30 === 0;
      if (frame === 160) catchUp.report(reportAt(clock, 500, 3));
      sent.push(catchUp.decide(key) === 'send');
    }
    const behindAt = Math.floor((REPORT_INTERVAL_SLACK_MS + 500) / 33) + 1; // the first frame past 2 s of silence
    assert.deepEqual(events, ['behind', 'caught-up']);
    assert.equal(catchUp.skips, 1);
    // Everything before going behind, then keyframes only (every 30th) until the report at 160,
    // then keyframe 180 onwards whole (161-179 wait for it).
    for (let frame = 0; frame < 240; frame++) {
      const expected = frame < behindAt || frame % 30 === 0 || frame >= 180;
      assert.equal(sent[frame], expected, `frame ${frame}`);
    }
    assert.equal(catchUp.framesDropped, sent.filter((s) => !s).length);
  });

  it('goes behind on a long round trip and stays there while reports still show one', () => {
    const { catchUp, clock, events } = setup();
    assert.equal(catchUp.decide(true), 'send');
    catchUp.report(reportAt(clock, 3, 5)); // the path's base delay
    clock.now += 33;
    catchUp.decide(false);
    catchUp.report(reportAt(clock, 5, 805)); // 800 ms more: a queue
    clock.now += 33;
    assert.equal(catchUp.decide(false), 'drop');
    assert.deepEqual(events, ['behind']);
    assert.ok(Math.abs(catchUp.lagMs() - 800) < 0.1, `lag ${catchUp.lagMs()}`);
    clock.now += 1000;
    catchUp.report(reportAt(clock, 9, 705)); // progress, but the path still holds 700 ms
    assert.equal(catchUp.behind, true);
    assert.equal(catchUp.decide(true), 'send', 'a keyframe while behind');
    catchUp.report(reportAt(clock, 9, 6)); // no progress: not proof it caught up
    assert.equal(catchUp.behind, true);
    catchUp.report(reportAt(clock, 12, 6));
    assert.deepEqual(events, ['behind', 'caught-up']);
    assert.equal(catchUp.decide(false), 'drop', 'waits for the next keyframe');
    assert.equal(catchUp.decide(true), 'send');
    assert.equal(catchUp.decide(false), 'send');
  });

  it('takes any change of the highest sequence number as progress, in both layouts in use', () => {
    for (const [name, at] of [
      ['RFC 3550 (wrap count high)', (cycles: number, seq: number) => cycles * 0x1_0000 + seq],
      ['libdatachannel (sequence number high)', (_cycles: number, seq: number) => seq * 0x1_0000],
    ] as const) {
      const { catchUp, clock, events } = setup();
      catchUp.decide(true);
      catchUp.report(reportAt(clock, 0, 1)); // before its first packet
      clock.now += 1000;
      catchUp.decide(false);
      catchUp.report(reportAt(clock, at(0, 60_000), 1)); // a random first sequence number
      clock.now += 1900;
      assert.equal(catchUp.decide(false), 'send', `${name}: progress`);
      catchUp.report(reportAt(clock, at(1, 4), 1)); // wrapped: progress
      clock.now += 1900;
      assert.equal(catchUp.decide(false), 'send', `${name}: the wrapped report counted as progress`);
      catchUp.report(reportAt(clock, at(1, 4), 1)); // the same: no progress
      clock.now += 2100;
      catchUp.decide(false);
      assert.deepEqual(events, ['behind'], name);
    }
  });
});
