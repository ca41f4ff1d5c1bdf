/**
 * Parsing of human-friendly durations and sizes used in config and CLI
 * options ("60s", "1m30s", "500ms", "2GB", "500MB"). Parsed once at the edge;
 * everything inside works in integers with the unit in the name.
 */
import { ConfigError } from '../errors.js';

const DURATION_UNITS_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
};

/**
 * Parses a duration such as `"60s"`, `"1m30s"`, `"250ms"`, `"2h"` into
 * milliseconds. A bare number is taken as seconds, or as milliseconds when
 * `bareUnit` is `'ms'`. Throws ConfigError naming `what` on bad input.
 */
export function parseDurationMs(input: string | number, what = 'duration', bareUnit: 's' | 'ms' = 's'): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0)
      throw new ConfigError(`${what}: expected a non-negative duration, got ${input}`);
    return Math.round(input * (bareUnit === 's' ? 1000 : 1));
  }
  // Settings arrive as JSON from the network: an array or object is a client error, not a crash.
  if (typeof input !== 'string')
    throw new ConfigError(`${what}: expected a duration such as "60s" or a number, got ${JSON.stringify(input)}`);
  const text = input.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(text)) return parseDurationMs(Number(text), what, bareUnit);
  const re = /(\d+(?:\.\d+)?)\s*(ms|min|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * (DURATION_UNITS_MS[m[2] as string] as number);
    consumed = re.lastIndex;
  }
  if (consumed === 0 || consumed !== text.length) {
    throw new ConfigError(`${what}: cannot read "${input}" as a duration (examples: 60s, 1m30s, 500ms)`);
  }
  return Math.round(total);
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1000,
  kb: 1000,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gib: 1024 ** 3,
  t: 1e12,
  tb: 1e12,
  tib: 1024 ** 4,
};

/**
 * Parses a byte size such as `"2GB"`, `"500MiB"`, `"64k"` into bytes
 * (decimal units for kB/MB/GB, binary for KiB/MiB/GiB). A bare number is
 * bytes. Throws ConfigError naming `what` on bad input.
 */
export function parseBytes(input: string | number, what = 'size'): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0)
      throw new ConfigError(`${what}: expected a non-negative size, got ${input}`);
    return Math.round(input);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(input);
  const unit = SIZE_UNITS[(m?.[2] ?? '').toLowerCase() || 'b'];
  if (!m || unit === undefined)
    throw new ConfigError(`${what}: cannot read "${input}" as a size (examples: 500MB, 2GB, 64KiB)`);
  return Math.round(Number(m[1]) * unit);
}

/** Formats bytes for people: "1.2 MB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let i = -1;
  while (value >= 1000 && i < units.length - 1) {
    value /= 1000;
    i++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[i]}`;
}
