/**
 * What the memory benches share: a process and its descendants from /proc,
 * their resident memory, waiting for a line of a child's output, and the
 * daemon's event-loop delay over a window (from its /metrics histogram).
 */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { get } from 'node:http';
import { fileURLToPath } from 'node:url';

/** VmRSS of a process in kB; 0 when it has exited meanwhile. */
export function rssKb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0; // exited meanwhile
  }
}

/** The process and all its descendants, from /proc/PID/task/TID/children. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const p = out[i] as number;
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        for (const c of readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim().split(/\s+/))
          if (c) out.push(Number(c));
      } catch {
        // thread or process gone
      }
    }
  }
  return out;
}

/** The command line of a process, arguments joined by spaces; '' when it has exited. */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Resolves with the first match of `re` in the child's standard output; rejects if it exits first. */
export function waitForLine(child: ChildProcess, re: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const on = (c: Buffer): void => {
      buf += c.toString();
      const m = re.exec(buf);
      if (m) {
        child.stdout?.off('data', on);
        resolve(m);
      }
    };
    child.stdout?.on('data', on);
    child.once('exit', (code) => reject(new Error(`exited ${code} before printing ${re}: ${buf}`)));
  });
}

export function fetchText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString()));
    }).on('error', reject);
  });
}

/** Cumulative buckets of the daemon's event-loop delay histogram: [upper bound s, count]. */
export async function loopDelayBuckets(base: string): Promise<Array<[number, number]>> {
  const text = await fetchText(`${base}/metrics`);
  const out: Array<[number, number]> = [];
  for (const m of text.matchAll(/^rearview_event_loop_delay_seconds_bucket\{le="([^"]+)"\} (\d+)/gm))
    out.push([m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]), Number(m[2])]);
  return out;
}

/** A quantile of the delays recorded between two scrapes, interpolated within its bucket (as Prometheus does). */
export function windowQuantile(before: Array<[number, number]>, after: Array<[number, number]>, q: number): number {
  const diff = after.map(([le, n], i) => [le, n - (before[i]?.[1] ?? 0)] as [number, number]);
  const total = diff.at(-1)?.[1] ?? 0;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevN = 0;
  for (const [le, n] of diff) {
    if (n >= rank) {
      if (!Number.isFinite(le)) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevN)) / Math.max(1, n - prevN);
    }
    prevLe = le;
    prevN = n;
  }
  return prevLe;
}

/**
 * The environment deploy/rearview.service gives the daemon on the camera (its `Environment=` line:
 * the glibc malloc settings), so the memory benches measure the daemon as it runs there. Empty
 * with `--no-unit-env` on the bench's command line (the malloc defaults, to compare).
 */
export function unitEnvironment(): Record<string, string> {
  if (process.argv.includes('--no-unit-env')) return {};
  const unit = readFileSync(fileURLToPath(new URL('../../deploy/rearview.service', import.meta.url)), 'utf8');
  const line = /^Environment=(.*)$/m.exec(unit)?.[1] ?? '';
  const env: Record<string, string> = {};
  for (const pair of line.split(' ').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  delete env.NODE_ENV;
  return env;
}
