/**
 * The slow-viewer rule of a WebRTC viewer: when it cannot keep up, it skips
 * to the next keyframe, like every other hub reader.
 *
 * A WebRTC viewer has no send buffer to watch: RTP goes out over UDP at once
 * (libdatachannel keeps no queue for a media track), so a viewer whose network
 * is slower than the stream, or whose process stops reading, loses packets
 * somewhere between us and it and we see nothing on the sending side. What it
 * tells us comes back in its RTCP receiver reports (RFC 3550 6.4): the highest
 * sequence number it received, and the last sender report it got (LSR) with
 * the delay since (DLSR), from which the round-trip time follows. A report
 * travels behind the media sent before it, so a queue on the path shows as a
 * longer round trip, and a viewer that stopped reading sends no report at all.
 *
 * The viewer's lag is therefore estimated as the larger of
 * - the round-trip time of its last report (the age of what it gets), and
 * - how long the oldest frame sent since its last report (one whose received
 *   sequence number moved on) has gone unreported, less
 *   {@link REPORT_INTERVAL_SLACK_MS} (browsers report about once a second).
 *
 * Over the soft limit the other outputs use (clientSoftLimitMs, 500 ms), the
 * viewer is behind: it gets keyframes only (so a congested path drains, and
 * each keyframe is a picture it can show at once) until a report shows it
 * received new media with a round trip under the limit; then it is sent the
 * whole stream again from the next keyframe. The owner counts the behind time
 * in the viewer's slot (client-slots.ts), which drops it after
 * clientBehindLimitMs of the window, as on port 5000.
 *
 * Pure bookkeeping with injected clocks; the owner parses the viewer's RTCP
 * with {@link parseReceiverReports} and asks {@link WebRtcCatchUp.decide}
 * for every frame.
 */

/** Longest normal gap between two receiver reports (Chrome: 1 s randomised to 0.5-1.5 s; libdatachannel: one per sender report, about 1 s), ms. */
export const REPORT_INTERVAL_SLACK_MS = 1500;

/** Seconds from the NTP epoch (1900) to the Unix epoch (1970). */
const NTP_UNIX_OFFSET_S = 2_208_988_800;

/** One RTCP report block (RFC 3550 6.4.1) about the media we send. */
export interface ReceiverReport {
  /** Extended highest sequence number received. */
  highestSeq: number;
  /** Fraction of packets lost since the previous report, 0-1. */
  fractionLost: number;
  /** Middle 32 bits of the NTP time of the last sender report received (0: none yet). */
  lastSr: number;
  /** Delay since that sender report was received, 1/65536 s. */
  delaySinceLastSr: number;
}

/**
 * The report blocks about `ssrc` in an RTCP compound packet (receiver
 * reports, and sender reports' blocks). Stops at anything that is not RTCP
 * version 2; never throws on short or hostile input.
 */
export function parseReceiverReports(data: Uint8Array, ssrc: number): ReceiverReport[] {
  const out: ReceiverReport[] = [];
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  while (at + 4 <= data.length) {
    const first = data[at] as number;
    if (first >> 6 !== 2) break;
    const count = first & 0x1f;
    const type = data[at + 1] as number;
    const end = at + 4 * (view.getUint16(at + 2) + 1);
    if (end > data.length) break;
    // RR: header, reporter SSRC, blocks. SR: header, SSRC, 20 bytes of sender info, blocks.
    const blocksAt = type === 201 ? at + 8 : type === 200 ? at + 28 : -1;
    if (blocksAt >= 0) {
      for (let i = 0, b = blocksAt; i < count && b + 24 <= end; i++, b += 24) {
        if (view.getUint32(b) !== ssrc >>> 0) continue;
        out.push({
          highestSeq: view.getUint32(b + 8),
          fractionLost: (data[b + 4] as number) / 256,
          lastSr: view.getUint32(b + 16),
          delaySinceLastSr: view.getUint32(b + 20),
        });
      }
    }
    at = end;
  }
  return out;
}

/**
 * Round-trip time from a report block (RFC 3550 6.4.1: arrival - LSR - DLSR),
 * ms, with `wallMs` the wall clock the sender reports were stamped with
 * (libdatachannel stamps them with the system clock); undefined when the
 * viewer has had no sender report yet or the figure is not sane.
 */
export function reportRoundTripMs(report: ReceiverReport, wallMs: number): number | undefined {
  if (report.lastSr === 0) return undefined;
  const nowMid = Math.floor(((wallMs / 1000 + NTP_UNIX_OFFSET_S) * 65536) % 0x1_0000_0000);
  const rtt = (nowMid - report.lastSr - report.delaySinceLastSr) >>> 0;
  // Over half the 16-bit-seconds range: the clocks disagree (or the report is forged), not a real round trip.
  if (rtt >= 0x8000_0000) return undefined;
  return rtt / 65.536;
}

/** Options of {@link WebRtcCatchUp}. */
export interface WebRtcCatchUpOptions {
  /** Lag past which the viewer is behind, ms (clientSoftLimitMs). */
  softLimitMs: number;
  /** Monotonic clock, ms. */
  clock: () => number;
  /** See {@link REPORT_INTERVAL_SLACK_MS}. */
  reportSlackMs?: number;
}

/** One viewer's catch-up state; see the file comment. */
export class WebRtcCatchUp {
  /** Frames not sent because the viewer was behind (or waiting for a keyframe after). */
  framesDropped = 0;
  /** Times the viewer went behind (each episode skips to keyframes once). */
  skips = 0;
  /** Told when the viewer goes behind (true) and when it caught up (false), with its lag, ms. */
  onBehindChange: ((behind: boolean, lagMs: number) => void) | undefined;
  private readonly softLimitMs: number;
  private readonly slackMs: number;
  private readonly clock: () => number;
  /** Send time of the oldest frame sent since the last report that showed progress. */
  private unreportedSince: number | undefined;
  private lastRttMs: number | undefined;
  /** Low 16 bits of the highest sequence number reported (libdatachannel reports no wrap count). */
  private reportedSeq: number | undefined;
  private behindSince: number | undefined;
  private waitingForKey = false;

  constructor(options: WebRtcCatchUpOptions) {
    this.softLimitMs = options.softLimitMs;
    this.slackMs = options.reportSlackMs ?? REPORT_INTERVAL_SLACK_MS;
    this.clock = options.clock;
    if (!Number.isFinite(this.softLimitMs) || this.softLimitMs <= 0)
      throw new RangeError(`softLimitMs must be a positive number, got ${this.softLimitMs}`);
  }

  /** True from going behind until a report shows the viewer caught up. */
  get behind(): boolean {
    return this.behindSince !== undefined;
  }

  /** Round-trip time of the last report that had one, ms. */
  get rttMs(): number | undefined {
    return this.lastRttMs;
  }

  /** The viewer's estimated lag now, ms (see the file comment). */
  lagMs(now = this.clock()): number {
    const silent = this.unreportedSince === undefined ? 0 : Math.max(0, now - this.unreportedSince - this.slackMs);
    return Math.max(this.lastRttMs ?? 0, silent);
  }

  /** A report block from the viewer about our media, `rttMs` from {@link reportRoundTripMs}. */
  report(report: ReceiverReport, rttMs: number | undefined): void {
    const seq = report.highestSeq & 0xffff;
    const step = this.reportedSeq === undefined ? 1 : (seq - this.reportedSeq) & 0xffff;
    // Serial-number order on 16 bits: a step of half the range or more is an old report.
    const progressed = step > 0 && step < 0x8000;
    if (progressed) {
      this.reportedSeq = seq;
      this.unreportedSince = undefined;
    }
    if (rttMs !== undefined) this.lastRttMs = rttMs;
    if (this.behindSince !== undefined && progressed && (this.lastRttMs ?? 0) <= this.softLimitMs) {
      const lag = this.clock() - this.behindSince;
      this.behindSince = undefined;
      // The frames after the last keyframe it got were not sent: the next one it gets is a keyframe.
      this.waitingForKey = true;
      this.onBehindChange?.(false, lag);
    }
  }

  /** Whether to send the next frame (a keyframe when `isKey`), or drop it. Counts what it drops. */
  decide(isKey: boolean): 'send' | 'drop' {
    const now = this.clock();
    if (this.behindSince === undefined && !this.waitingForKey) {
      const lag = this.lagMs(now);
      if (lag > this.softLimitMs) {
        this.behindSince = now;
        this.skips++;
        this.onBehindChange?.(true, lag);
      }
    }
    if (this.behindSince !== undefined || this.waitingForKey) {
      if (!isKey) {
        this.framesDropped++;
        return 'drop';
      }
      this.waitingForKey = false;
    }
    this.unreportedSince ??= now;
    return 'send';
  }
}
