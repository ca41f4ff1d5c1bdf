/**
 * The slot rules of one pool of live-stream clients (one pool per kind:
 * raw TCP on port 5000, WebSocket viewers on /api/v1/live; a later kind of
 * viewer gets a pool of its own). Shared by the outputs so every kind obeys
 * the same rules against slot hogging:
 *
 * - at most `maxPerAddress` clients from one address (IPv4-mapped IPv6
 *   addresses count as their IPv4 address);
 * - a client that was behind (over its hub reader's soft limit, see
 *   HubReader.onBehindChange) for `behindLimitMs` out of the last `windowMs`
 *   is due to be dropped ({@link ClientSlots.sweep}); a client that reads
 *   slowly but steadily makes "progress" and is never stalled, so the hard
 *   limit alone would let it hold its slot for ever;
 * - when the pool is full, the client behind longest in the window (at least
 *   {@link MIN_BEHIND_TO_EVICT_MS}) gives way to a new client; when nobody
 *   is behind, the new client is refused.
 *
 * Pure bookkeeping with an injected monotonic clock: the outputs own the
 * sockets, close the clients this module names and call sweep() on a timer.
 */

/** Why a client was not given a slot (or lost it), as counted in status and /metrics. */
export type SlotRefusalReason = 'full' | 'per-address' | 'not-allowed' | 'not-streaming' | 'closing';

/** Every refusal reason, in the order status and /metrics list them. */
export const SLOT_REFUSAL_REASONS: readonly SlotRefusalReason[] = [
  'full',
  'per-address',
  'not-allowed',
  'not-streaming',
  'closing',
];

/** Default sliding window over which behind time is summed, ms. */
export const BEHIND_WINDOW_MS = 30_000;

/** Least behind time in the window that makes a client give way to a new one, ms. */
export const MIN_BEHIND_TO_EVICT_MS = 1000;

/** Options of {@link ClientSlots}. */
export interface ClientSlotsOptions {
  /** Most clients in the pool. */
  maxClients: number;
  /** Most clients from one address. */
  maxPerAddress: number;
  /** Behind this long within the window: the client is dropped, ms. */
  behindLimitMs: number;
  /** The sliding window, ms. Default {@link BEHIND_WINDOW_MS}. */
  windowMs?: number;
  /** Monotonic clock, ms. */
  clock: () => number;
}

/** Figures of one pool for status and /metrics. */
export interface SlotPoolStats {
  clients: number;
  maxClients: number;
  maxPerAddress: number;
  behindLimitMs: number;
  windowMs: number;
  /** Clients refused since start, by reason. */
  refused: Record<SlotRefusalReason, number>;
  /** Clients that gave way to a new client while the pool was full. */
  evicted: number;
  /** Clients dropped for being behind too long in the window. */
  droppedBehind: number;
}

/** Result of {@link ClientSlots.admit}. */
export type SlotAdmission<T> =
  | { ok: true; evict: ClientSlot<T> | undefined }
  | { ok: false; reason: 'full' | 'per-address'; message: string };

/** The address a client is counted under: IPv4-mapped IPv6 as IPv4, no zone, lower case. */
export function slotAddressOf(remoteAddress: string | undefined): string {
  let a = (remoteAddress ?? '').trim().toLowerCase();
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  return mapped ? (mapped[1] as string) : a || '?';
}

/** One client's slot: its address and the time it spent behind. */
export class ClientSlot<T> {
  /** Closed stretches of behind time still inside the window: [start, end] pairs, oldest first. */
  private stretches: number[] = [];
  private behindSince: number | undefined;

  /** @internal Created by ClientSlots.add. */
  constructor(
    readonly client: T,
    readonly address: string,
    readonly sinceMs: number,
    private readonly pool: ClientSlots<T>,
  ) {}

  /** The client went behind (true) or caught up (false), now. Repeats are ignored. */
  setBehind(behind: boolean): void {
    const now = this.pool.clock();
    if (behind) {
      this.behindSince ??= now;
      return;
    }
    if (this.behindSince === undefined) return;
    this.stretches.push(this.behindSince, now);
    this.behindSince = undefined;
    this.prune(now);
  }

  /** True while the client is behind. */
  get behind(): boolean {
    return this.behindSince !== undefined;
  }

  /** Time spent behind within the last windowMs, ms. */
  behindMs(now = this.pool.clock()): number {
    const from = now - this.pool.windowMs;
    let total = 0;
    for (let i = 0; i < this.stretches.length; i += 2) {
      total += Math.max(
        0,
        Math.min(this.stretches[i + 1] as number, now) - Math.max(this.stretches[i] as number, from),
      );
    }
    if (this.behindSince !== undefined) total += Math.max(0, now - Math.max(this.behindSince, from));
    return total;
  }

  /** Frees the slot (the client left). Idempotent. */
  release(): void {
    this.pool.release(this);
  }

  private prune(now: number): void {
    const from = now - this.pool.windowMs;
    let drop = 0;
    while (drop < this.stretches.length && (this.stretches[drop + 1] as number) <= from) drop += 2;
    if (drop > 0) this.stretches.splice(0, drop);
  }
}

/** One pool of client slots; see the file comment. */
export class ClientSlots<T> {
  /** @internal */ readonly clock: () => number;
  /** @internal */ readonly windowMs: number;
  private readonly maxClients: number;
  private readonly maxPerAddress: number;
  private readonly behindLimitMs: number;
  private readonly slots = new Set<ClientSlot<T>>();
  private readonly perAddress = new Map<string, number>();
  private readonly refused: Record<SlotRefusalReason, number> = {
    full: 0,
    'per-address': 0,
    'not-allowed': 0,
    'not-streaming': 0,
    closing: 0,
  };
  private evicted = 0;
  private droppedBehind = 0;

  constructor(options: ClientSlotsOptions) {
    this.maxClients = options.maxClients;
    this.maxPerAddress = options.maxPerAddress;
    this.behindLimitMs = options.behindLimitMs;
    this.windowMs = options.windowMs ?? BEHIND_WINDOW_MS;
    this.clock = options.clock;
    for (const [k, v] of [
      ['maxClients', this.maxClients],
      ['maxPerAddress', this.maxPerAddress],
      ['behindLimitMs', this.behindLimitMs],
      ['windowMs', this.windowMs],
    ] as const) {
      if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${k} must be a positive number, got ${v}`);
    }
  }

  /** Clients holding a slot. */
  get size(): number {
    return this.slots.size;
  }

  /**
   * May a client from `remoteAddress` have a slot now? Counts a refusal.
   * With `evict` set, the pool is full and that client must give way first
   * (it is counted as evicted and its slot freed here).
   */
  admit(remoteAddress: string | undefined): SlotAdmission<T> {
    const address = slotAddressOf(remoteAddress);
    if ((this.perAddress.get(address) ?? 0) >= this.maxPerAddress) {
      this.refused['per-address']++;
      return {
        ok: false,
        reason: 'per-address',
        message: `already ${this.maxPerAddress} stream connections from ${address}`,
      };
    }
    if (this.slots.size < this.maxClients) return { ok: true, evict: undefined };
    const now = this.clock();
    let victim: ClientSlot<T> | undefined;
    let victimMs = 0;
    for (const slot of this.slots) {
      const ms = slot.behindMs(now);
      // The longest behind; on a tie, the one connected first.
      if (
        ms >= MIN_BEHIND_TO_EVICT_MS &&
        (ms > victimMs || (ms === victimMs && victim && slot.sinceMs < victim.sinceMs))
      ) {
        victim = slot;
        victimMs = ms;
      }
    }
    if (!victim) {
      this.refused.full++;
      return { ok: false, reason: 'full', message: `already ${this.maxClients} clients, none of them behind` };
    }
    this.evicted++;
    this.release(victim);
    return { ok: true, evict: victim };
  }

  /** Counts a refusal decided by the output itself (allow-list, mode, closing). */
  noteRefused(reason: SlotRefusalReason): void {
    this.refused[reason]++;
  }

  /** Gives `client` a slot (after admit() said yes). */
  add(remoteAddress: string | undefined, client: T): ClientSlot<T> {
    const slot = new ClientSlot(client, slotAddressOf(remoteAddress), this.clock(), this);
    this.slots.add(slot);
    this.perAddress.set(slot.address, (this.perAddress.get(slot.address) ?? 0) + 1);
    return slot;
  }

  /** @internal Frees a slot. Idempotent. */
  release(slot: ClientSlot<T>): void {
    if (!this.slots.delete(slot)) return;
    const n = (this.perAddress.get(slot.address) ?? 1) - 1;
    if (n > 0) this.perAddress.set(slot.address, n);
    else this.perAddress.delete(slot.address);
  }

  /**
   * The clients behind for at least behindLimitMs of the window, now; each
   * is named once, counted as droppedBehind and its slot freed. The caller
   * disconnects them.
   */
  sweep(): ClientSlot<T>[] {
    const now = this.clock();
    const due: ClientSlot<T>[] = [];
    for (const slot of this.slots) {
      if (slot.behindMs(now) >= this.behindLimitMs) due.push(slot);
    }
    for (const slot of due) {
      this.droppedBehind++;
      this.release(slot);
    }
    return due;
  }

  /** Figures for status and /metrics (a fresh object). */
  stats(): SlotPoolStats {
    return {
      clients: this.slots.size,
      maxClients: this.maxClients,
      maxPerAddress: this.maxPerAddress,
      behindLimitMs: this.behindLimitMs,
      windowMs: this.windowMs,
      refused: { ...this.refused },
      evicted: this.evicted,
      droppedBehind: this.droppedBehind,
    };
  }
}
