/**
 * Rate limit of wrong API tokens per client address, so the token cannot be
 * guessed by trying: every client has a bucket of `burst` failures that
 * refills one failure per `refillMs`. With the bucket empty, every request
 * of that client that presents a token (right or wrong) is refused until
 * it refills. IPv6 clients are counted per /64, since one host can pick any
 * address in its prefix. Right tokens cost nothing.
 */
import { isIP } from 'node:net';

/** Options of TokenAttemptLimiter. */
export interface TokenAttemptLimiterOptions {
  /** Wrong tokens allowed in a row before the client must wait. Default 10. */
  burst?: number;
  /** One more wrong token is allowed per this many ms. Default 6000 (10 a minute). */
  refillMs?: number;
  /** Most clients tracked; the oldest are forgotten beyond it. Default 4096. */
  maxClients?: number;
  now?: () => number;
}

interface Bucket {
  failures: number;
  sinceMs: number;
}

/** Counts wrong tokens per client; see the file comment. */
export class TokenAttemptLimiter {
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly maxClients: number;
  private readonly now: () => number;
  private readonly buckets = new Map<string, Bucket>();

  constructor(options: TokenAttemptLimiterOptions = {}) {
    this.burst = options.burst ?? 10;
    this.refillMs = options.refillMs ?? 6000;
    this.maxClients = options.maxClients ?? 4096;
    this.now = options.now ?? Date.now;
  }

  /** 0 when `address` may present a token now, else how long it must wait, ms. */
  retryAfterMs(address: string | undefined): number {
    const bucket = this.current(clientKey(address));
    if (!bucket || bucket.failures < this.burst) return 0;
    return Math.max(1, bucket.sinceMs + this.refillMs - this.now());
  }

  /** Records a wrong token from `address`. */
  failed(address: string | undefined): void {
    const key = clientKey(address);
    const bucket = this.current(key) ?? { failures: 0, sinceMs: this.now() };
    if (bucket.failures === 0) bucket.sinceMs = this.now();
    bucket.failures += 1;
    this.buckets.delete(key); // re-insert: the Map's order is the eviction order
    this.buckets.set(key, bucket);
    if (this.buckets.size > this.maxClients) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
  }

  /** The bucket of `key` with the refill since its last change applied; undefined when empty. */
  private current(key: string): Bucket | undefined {
    const bucket = this.buckets.get(key);
    if (!bucket) return undefined;
    const refilled = Math.floor((this.now() - bucket.sinceMs) / this.refillMs);
    if (refilled > 0) {
      bucket.failures = Math.max(0, bucket.failures - refilled);
      bucket.sinceMs += refilled * this.refillMs;
    }
    if (bucket.failures === 0) {
      this.buckets.delete(key);
      return undefined;
    }
    return bucket;
  }
}

/** The address a client is counted under: IPv4 as is, IPv6 by its /64 prefix. */
function clientKey(address: string | undefined): string {
  if (!address) return '?';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1] as string;
  if (isIP(address) !== 6) return address;
  const [head = '', tail = ''] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, '').toLowerCase())
    .join(':')}::/64`;
}
