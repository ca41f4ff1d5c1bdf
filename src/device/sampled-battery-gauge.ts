/**
 * A gauge read at most once per `maxAgeMs` per value, whatever the request
 * rate: every read of an I2C gauge is a child process, and anyone on the
 * camera's open Wi-Fi can ask for `/battery-percent` in a loop. The device
 * did the same (a thread read the gauge once a second; the routes answered
 * the last value). Concurrent reads share one read; failures are kept as long
 * as values, so a missing chip is not asked again on every request.
 */
import type { BatteryGauge } from './battery-gauge.js';
import { systemClock, type Clock } from '../util/clock.js';

interface Sample {
  atMs: number;
  value: Promise<number>;
}

/** Wraps a hardware gauge; `kind` and `simulated` are the wrapped gauge's. */
export class SampledBatteryGauge implements BatteryGauge {
  private percent: Sample | undefined;
  private millivolts: Sample | undefined;
  /** The message of the last failed read, null after a good one (shown in the status). */
  lastError: string | null = null;

  constructor(
    private readonly gauge: BatteryGauge,
    private readonly maxAgeMs = 1000,
    private readonly clock: Clock = systemClock,
  ) {}

  get kind(): BatteryGauge['kind'] {
    return this.gauge.kind;
  }

  get simulated(): boolean {
    return this.gauge.simulated;
  }

  readPercent(): Promise<number> {
    this.percent = this.fresh(this.percent, () => this.gauge.readPercent());
    return this.percent.value;
  }

  readMillivolts(): Promise<number> {
    this.millivolts = this.fresh(this.millivolts, () => this.gauge.readMillivolts());
    return this.millivolts.value;
  }

  close(): Promise<void> {
    return this.gauge.close();
  }

  private fresh(sample: Sample | undefined, read: () => Promise<number>): Sample {
    const now = this.clock.monoNow();
    if (sample && now - sample.atMs < this.maxAgeMs) return sample;
    const value = read().then(
      (v) => {
        this.lastError = null;
        return v;
      },
      (err: unknown) => {
        this.lastError = (err as Error).message;
        throw err;
      },
    );
    value.catch(() => undefined); // a caller may never await a shared failed read
    return { atMs: now, value };
  }
}
