/**
 * The daemon's wall clock. A Raspberry Pi Zero 2W has no real-time clock and
 * the camera's own hotspot has no network time, so after a boot the system
 * clock says 1970 (or the time fake-hwclock or systemd-timesyncd saved at the
 * last shutdown) until something sets it. The camera learns the time from
 * network time when it has an uplink, or from the first client that passes
 * the API's access rules (`POST /api/v1/clock`).
 *
 * The daemon never sets the system clock: that needs CAP_SYS_TIME (or a
 * polkit rule for timedated, which also refuses while NTP is enabled), the
 * service runs unprivileged with NoNewPrivileges, and a client on the open
 * Wi-Fi must not be able to move the whole system's time (logs, TLS,
 * timers). It keeps its own offset instead: wall = monotonic + offset.
 *
 * The rule ("valid" means the wall time can be believed):
 * 1. the system clock is synchronised with network time (NTP): valid, and
 *    the system time is used;
 * 2. else a client set it during this run: valid (wall = monotonic + the
 *    offset learnt from the client);
 * 3. else the system time is before {@link CLOCK_FLOOR_MS}: never set;
 * 4. else on Linux without a real-time clock (`/sys/class/rtc` empty): not
 *    valid, though past the floor: fake-hwclock and timesyncd restore the
 *    time saved at shutdown, behind by as long as the camera was off;
 * 5. else (a real-time clock, or a system that does not say): valid, the
 *    system time is used.
 *
 * Until it is valid, wall times are provisional: the monotonic clock plus
 * the offset the system clock had when the daemon started, so every
 * provisional time is off by the same amount. When the clock becomes valid,
 * listeners get that amount (`correctionMs`) and re-stamp what they stamped
 * (the recorder: docs/recording.md).
 */
import { execFile } from 'node:child_process';
import { access, readdir } from 'node:fs/promises';
import { systemClock, type Clock, type TimerHandle } from './clock.js';

/**
 * No release runs before it was written: a system time earlier than this was
 * certainly never set. Raised with releases (any later date is plausible).
 */
export const CLOCK_FLOOR_MS = Date.UTC(2026, 11, 1);

/** Latest time a client may set: later is a broken or hostile clock. */
export const CLOCK_CEILING_MS = Date.UTC(2100, 0, 1);

/** Where the wall time comes from once valid. */
export type ClockSource = 'ntp' | 'client' | 'system';

/** What the system says about its time; undefined where it cannot tell. */
export interface SystemTimeFacts {
  /** The kernel's clock is synchronised with network time (any NTP client). */
  ntpSynchronized: boolean | undefined;
  /** The machine has a real-time clock that keeps time while it is off. */
  hasRtc: boolean | undefined;
}

/** Asks the system about its time (injectable for tests). */
export type SystemTimeProbe = () => Promise<SystemTimeFacts>;

/** The clock's state, as the status API shows it. */
export interface CameraClockState {
  /** The wall time can be believed (see the rule in the file comment). */
  set: boolean;
  /** Where the time comes from; null while not set. */
  source: ClockSource | null;
  /** Why it is not set, in words; null when set. */
  reason: string | null;
}

/** A change of state; `correctionMs` is given once, when the clock first becomes valid. */
export interface CameraClockChange {
  state: CameraClockState;
  /** Add this to a provisional time (stamped while not set) to get the true time; null on later changes. */
  correctionMs: number | null;
}

/** Options of {@link CameraClock}. */
export interface CameraClockOptions {
  /** Monotonic and system wall time, timers. Default the system clock. */
  base?: Clock;
  /** Default {@link probeSystemTime}. */
  probe?: SystemTimeProbe;
  /** Default {@link CLOCK_FLOOR_MS}. */
  floorMs?: number;
  /** How often the system is asked again while the time is not from NTP, ms. Default 15000; 0 never. */
  pollMs?: number;
  /** Hears each change in words (for the log). */
  log?: (message: string) => void;
}

/** The daemon's Clock with validity; see the file comment. */
export class CameraClock implements Clock {
  private readonly base: Clock;
  private readonly probe: SystemTimeProbe;
  private readonly floorMs: number;
  private readonly pollMs: number;
  private readonly log: (message: string) => void;
  /** wall = monotonic + offset while the source is not the system's. */
  private offsetMs: number;
  private source: ClockSource | null = null;
  private facts: SystemTimeFacts = { ntpSynchronized: undefined, hasRtc: undefined };
  private listeners: ((change: CameraClockChange) => void)[] = [];
  private timer: TimerHandle | undefined;
  private checking: Promise<void> | undefined;
  /** Set when the clock became valid in this run: how far provisional times were off, and where they ended. */
  private correction: { ms: number; setAtProvisionalMs: number } | undefined;
  /** The first probe has answered: from then on a clock once valid stays valid. */
  private probedOnce = false;
  private closed = false;

  constructor(options: CameraClockOptions = {}) {
    this.base = options.base ?? systemClock;
    this.probe = options.probe ?? probeSystemTime;
    this.floorMs = options.floorMs ?? CLOCK_FLOOR_MS;
    this.pollMs = options.pollMs ?? 15_000;
    this.log = options.log ?? (() => undefined);
    this.offsetMs = this.base.wallNow() - this.base.monoNow();
    // Before the first probe nothing is known about NTP or a real-time clock: rules 3 and 5 only.
    this.evaluate(false);
  }

  monoNow(): number {
    return this.base.monoNow();
  }

  /** The camera's wall time: valid or provisional (see `state`). */
  wallNow(): number {
    return this.followsSystem ? this.base.wallNow() : this.base.monoNow() + this.offsetMs;
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    return this.base.setTimeout(fn, delayMs);
  }

  clearTimeout(handle: TimerHandle): void {
    this.base.clearTimeout(handle);
  }

  /**
   * True for a time this clock stamped before it was set (a provisional
   * one). After the clock was set, those are the times below the moment it
   * was set on the provisional timeline; when the correction was negative
   * (the system clock ran ahead) they cannot be told from valid ones, and
   * none is taken for provisional.
   */
  isProvisional(wallMs: number): boolean {
    if (!this.isSet) return true;
    return this.correction !== undefined && this.correction.ms > 0 && wallMs <= this.correction.setAtProvisionalMs;
  }

  /** A stamped time made true: a provisional one plus the correction; others unchanged (also while not set). */
  corrected(wallMs: number): number {
    return this.isSet && this.isProvisional(wallMs) ? wallMs + (this.correction?.ms ?? 0) : wallMs;
  }

  /** True when the wall time can be believed. */
  get isSet(): boolean {
    return this.source !== null;
  }

  /** The wall time when valid, else undefined: for what must never use a wrong time. */
  validNow(): number | undefined {
    return this.isSet ? this.wallNow() : undefined;
  }

  get state(): CameraClockState {
    return { set: this.isSet, source: this.source, reason: this.isSet ? null : this.unsetReason() };
  }

  /** Calls `listener` on every change of state; returns the unsubscribe function. */
  onChange(listener: (change: CameraClockChange) => void): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  /** Asks the system once, then every `pollMs` until the time comes from NTP. */
  async start(): Promise<void> {
    await this.check();
  }

  /** Stops asking the system. Idempotent. */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.base.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Asks the system now (and schedules the next check). */
  check(): Promise<void> {
    this.checking ??= (async () => {
      try {
        this.facts = await this.probe();
      } catch {
        this.facts = { ntpSynchronized: undefined, hasRtc: undefined }; // a failing probe tells nothing
      }
      this.evaluate(true);
    })().finally(() => {
      this.checking = undefined;
      if (this.timer !== undefined) this.base.clearTimeout(this.timer);
      this.timer = undefined;
      if (!this.closed && this.pollMs > 0 && this.source !== 'ntp')
        this.timer = this.base.setTimeout(() => void this.check(), this.pollMs);
    });
    return this.checking;
  }

  /**
   * A client's time (ms since the epoch, read when it sent the request).
   * Applied only while the clock is not set: the first client wins, and
   * network time, once there, wins over any client. Throws RangeError for a
   * time outside [floor, 2100). Returns whether it was applied.
   */
  setFromClient(epochMs: number): boolean {
    if (!Number.isFinite(epochMs) || epochMs < this.floorMs || epochMs >= CLOCK_CEILING_MS)
      throw new RangeError(
        `the time must be ms since the Unix epoch from ${new Date(this.floorMs).toISOString()} to ${new Date(CLOCK_CEILING_MS).toISOString()}`,
      );
    if (this.isSet) return false;
    const provisional = this.wallNow();
    this.offsetMs = epochMs - this.base.monoNow();
    this.change('client', epochMs - provisional, provisional);
    return true;
  }

  /** True when the wall time is the system's (rules 1 and 5). */
  private get followsSystem(): boolean {
    return this.source === 'ntp' || this.source === 'system';
  }

  private evaluate(probed: boolean): void {
    const systemMs = this.base.wallNow();
    let next: ClockSource | null;
    if (this.facts.ntpSynchronized === true) next = 'ntp';
    else if (this.source === 'client') next = 'client';
    else if (systemMs < this.floorMs) next = null;
    else if (this.facts.hasRtc === false) next = null;
    else next = 'system';
    const firstProbe = probed && !this.probedOnce;
    if (probed) this.probedOnce = true;
    if (next === this.source) return;
    const provisional = this.wallNow();
    if (next === null) {
      // Only the first probe may find the constructor's guess wrong (before anything was stamped);
      // later, a clock once valid stays valid (what was stamped with it is not provisional).
      if (!firstProbe) return;
      this.offsetMs = provisional - this.base.monoNow();
      this.source = null;
      this.emit(null);
      return;
    }
    this.change(next, this.isSet ? null : systemMs - provisional, provisional);
  }

  private change(source: ClockSource, correctionMs: number | null, provisionalNowMs: number): void {
    const wasSet = this.isSet;
    this.source = source;
    if (!wasSet && correctionMs !== null) this.correction = { ms: correctionMs, setAtProvisionalMs: provisionalNowMs };
    if (source === 'client') this.log(`clock set by a client: ${new Date(this.wallNow()).toISOString()}`);
    else if (source === 'ntp')
      this.log(`clock synchronised with network time: ${new Date(this.wallNow()).toISOString()}`);
    else this.log(`clock taken from the system: ${new Date(this.wallNow()).toISOString()}`);
    this.emit(wasSet ? null : correctionMs);
  }

  private emit(correctionMs: number | null): void {
    const change: CameraClockChange = { state: this.state, correctionMs };
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch {
        // a listener's failure is its own; the clock keeps its state
      }
    }
  }

  private unsetReason(): string {
    const systemMs = this.base.wallNow();
    if (systemMs < this.floorMs)
      return `clock not set: the system clock says ${new Date(systemMs).toISOString()} (no real-time clock, no network time)`;
    return 'clock not set: no real-time clock and no network time; the system time may be one saved before the camera was switched off';
  }
}

/** systemd-timesyncd creates this file once it has synchronised. */
const TIMESYNC_FLAG = '/run/systemd/timesync/synchronized';

/**
 * The real probe: NTP synchronisation from systemd-timesyncd's flag file,
 * else `timedatectl show -p NTPSynchronized --value` (any NTP client sets the
 * kernel's flag it reads); a real-time clock from `/sys/class/rtc`. Each is
 * undefined where the system cannot tell (no systemd, no sysfs).
 */
export async function probeSystemTime(): Promise<SystemTimeFacts> {
  const [ntpSynchronized, hasRtc] = await Promise.all([ntpSynchronizedNow(), hasRealTimeClock()]);
  return { ntpSynchronized, hasRtc };
}

async function ntpSynchronizedNow(): Promise<boolean | undefined> {
  try {
    await access(TIMESYNC_FLAG);
    return true;
  } catch {
    // no flag: timesyncd has not synchronised, or another NTP client runs; ask timedatectl
  }
  return new Promise((resolve) => {
    execFile('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], { timeout: 2000 }, (err, stdout) => {
      if (err) resolve(undefined);
      else resolve(stdout.trim() === 'yes' ? true : stdout.trim() === 'no' ? false : undefined);
    });
  });
}

async function hasRealTimeClock(): Promise<boolean | undefined> {
  try {
    return (await readdir('/sys/class/rtc')).some((n) => n.startsWith('rtc'));
  } catch {
    return undefined;
  }
}
