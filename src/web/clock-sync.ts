/**
 * Estimates the offset between the camera's wall clock and this browser's,
 * NTP-style, from ping/pong text messages on the live WebSocket. The capture
 * timestamps in the stream are on the camera's clock; without the offset a
 * viewer whose clock is a second off would show a latency a second wrong.
 */

/** One clock sample. */
interface Sample {
  rttMs: number;
  offsetMs: number;
}

/** Keeps the sample with the smallest round trip among the last `keep`. */
export class ClockSync {
  private readonly samples: Sample[] = [];
  private readonly pending = new Map<number, number>();
  private nextId = 1;

  /** @param keep samples remembered (default 8); @param now browser wall clock in ms (default Date.now). */
  constructor(
    private readonly keep = 8,
    private readonly now: () => number = Date.now,
  ) {}

  /** A ping message to send; remembers its send time. */
  ping(): { type: 'ping'; id: number; clientTimeMs: number } {
    const id = this.nextId++;
    const clientTimeMs = this.now();
    this.pending.set(id, clientTimeMs);
    // Forget pings that were never answered.
    if (this.pending.size > 16) this.pending.delete(this.pending.keys().next().value as number);
    return { type: 'ping', id, clientTimeMs };
  }

  /** Records a pong: offset = server time - midpoint of the round trip. */
  pong(id: number, serverTimeMs: number): void {
    const sentMs = this.pending.get(id);
    if (sentMs === undefined) return;
    this.pending.delete(id);
    const receivedMs = this.now();
    this.samples.push({ rttMs: receivedMs - sentMs, offsetMs: serverTimeMs - (sentMs + receivedMs) / 2 });
    if (this.samples.length > this.keep) this.samples.shift();
  }

  /** Camera clock minus browser clock in ms (0 until the first pong); undefined when unknown. */
  get offsetMs(): number | undefined {
    return this.best()?.offsetMs;
  }

  /** Round trip of the sample in use, ms: the offset is known to within half of it. */
  get rttMs(): number | undefined {
    return this.best()?.rttMs;
  }

  /**
   * The offset to apply: 0 while the measured offset is within its own
   * uncertainty (half the round trip, +1 ms for clock granularity), so two
   * clocks that agree are not "corrected" by the noise of one slow reply.
   */
  get correctionMs(): number {
    const best = this.best();
    if (!best || Math.abs(best.offsetMs) <= best.rttMs / 2 + 1) return 0;
    return best.offsetMs;
  }

  /** The camera's clock now, estimated (browser clock when unknown or in agreement). */
  cameraNowMs(): number {
    return this.now() + this.correctionMs;
  }

  /** Forgets everything (new connection, possibly another camera). */
  reset(): void {
    this.samples.length = 0;
    this.pending.clear();
  }

  private best(): Sample | undefined {
    let best: Sample | undefined;
    for (const s of this.samples) if (!best || s.rttMs < best.rttMs) best = s;
    return best;
  }
}
