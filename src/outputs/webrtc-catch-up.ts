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
 * the delay since (DLSR). A sender report travels behind the media sent before
 * it, so a queue on the path shows as a longer "arrival - LSR - DLSR", and a
 * viewer that stopped reading sends no report at all.
 *
 * That difference is the round-trip time only when LSR is the sender report's
 * send time. libdatachannel (node-datachannel 0.33) derives a sender report's
 * NTP time from the RTP time, which here is the capture time, plus an offset
 * of its own: so only its growth is used, over the smallest value seen in the
 * session (the path's base delay), as delay-based congestion control does.
 * The viewer's lag is estimated as the larger of
 * - that queueing delay (how much older than at best what it gets is), and
 * - how long the oldest frame sent since its last report (one whose received
 *   sequence number moved on) has gone unreported, less
 *   {@link REPORT_INTERVAL_SLACK_MS} (browsers report about once a second);
 *   only for a viewer that has reported at least once (every browser does:
 *   one that sends no RTCP at all is not judged by its silence).
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
 * "arrival - LSR - DLSR" of a report block (RFC 3550 6.4.1) in 1/65536 s,
 * modulo 2^32, with `nowMs` any steady clock in ms (only differences between
 * two results mean anything; see the file comment); undefined when the viewer
 * has had no sender report yet.
 */
export function reportDelayUnits(report: ReceiverReport, nowMs: number): number | undefined {
  if (report.lastSr === 0) return undefined;
  const nowMid = Math.floor(((nowMs / 1000) * 65536) % 0x1_0000_0000);
  return (nowMid - report.lastSr - report.delaySinceLastSr) >>> 0;
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
  /** Queueing delay of the last report with a sender report in it, ms. */
  private lastQueueMs: number | undefined;
  /** reportDelayUnits of the session's first such report, and the least since relative to it (signed units). */
  private baseDelay: number | undefined;
  private leastDelay = 0;
  /** The last "extended highest sequence number" that moved on. */
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

  /** Queueing delay shown by the last report that had one (over the session's base delay), ms. */
  get queueMs(): number | undefined {
    return this.lastQueueMs;
  }

  /** The viewer's estimated lag now, ms (see the file comment). */
  lagMs(now = this.clock()): number {
    // A viewer that never reported (no RTCP at all: not a browser) is not judged by silence.
    const silent =
      this.unreportedSince === undefined || this.reportedSeq === undefined
        ? 0
        : Math.max(0, now - this.unreportedSince - this.slackMs);
    return Math.max(this.lastQueueMs ?? 0, silent);
  }

  /** A report block from the viewer about our media, arrived now. */
  report(report: ReceiverReport): void {
    const delay = reportDelayUnits(report, this.clock());
    if (delay !== undefined) {
      this.baseDelay ??= delay;
      // Signed 32-bit difference to the first: later reports may be smaller (a shorter queue).
      const relative = (delay - this.baseDelay) | 0;
      this.leastDelay = Math.min(this.leastDelay, relative);
      this.lastQueueMs = (relative - this.leastDelay) / 65.536;
    }
    // Any change is progress. The field's layout differs between viewers (RFC 3550's wrap count
    // high and sequence number low from browsers; node-datachannel 0.33's RtcpReceivingSession puts
    // the sequence number in the high 16 bits, and reports 0 before its first packet), so no order
    // is read into it; a reordered older report is rare and the round trip still has to be short.
    const seq = report.highestSeq >>> 0;
    const progressed = seq !== this.reportedSeq;
    if (progressed) {
      this.reportedSeq = seq;
      this.unreportedSince = undefined;
    }
    if (this.behindSince !== undefined && progressed && (this.lastQueueMs ?? 0) <= this.softLimitMs) {
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
