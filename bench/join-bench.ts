/**
 * Joining a live stream (issue 16 §5): per join policy, how soon a new
 * viewer shows a first picture and how old the picture on screen is 1 s
 * after it joined.
 *
 * Three `rearview serve` daemons play the bundled sample (640x360, 30 fps,
 * one IDR a second: a 1 s GOP), one per port-5000 policy: `latest-keyframe`
 * (the cached GOP at once), `next-keyframe` (nothing until the next IDR:
 * what MediaMTX and go2rtc do) and `live-edge` (the cached keyframe alone,
 * then the next IDR). Each trial joins at a random point of the GOP with,
 * at once:
 * - `raw asap`: a raw TCP reader that shows every frame the moment it has
 *   it (ffplay with -fflags nobuffer behaves so);
 * - `raw paced`: a raw TCP reader that takes one frame per frame interval
 *   (an OpenCV `cap.read()` loop at the camera's rate; it never drops);
 * - `library`: `connect()` of the client library, policy 'latest' (join
 *   'live-edge': frames of a join burst are flagged catchUp and not shown);
 * - `ws ?join=P`: the WebSocket with the same policy; frames flagged
 *   CATCH_UP are not shown (the page decodes them unseen).
 * The age of a frame is now minus its capture time (the daemon stamps it
 * from this machine's clock, the same clock). The figures are medians and
 * maxima over the trials.
 *
 * Usage: node dist/bench/join-bench.js [--trials 12]
 */
import { connect as tcpConnect } from 'node:net';
import WebSocket from 'ws';
import { connect } from '../src/client/index.js';
import { AnnexBFramer } from '../src/client/annexb-framer.js';
import { parseLiveFrame } from '../src/outputs/ws-protocol.js';
import { startServe, type ServeProcess } from '../test/support/daemon.js';
import { percentile } from './percentile.js';

const argv = process.argv.slice(2);
const TRIALS = Number(argv[argv.indexOf('--trials') + 1] ?? 12) || 12;
const POLICIES = ['latest-keyframe', 'next-keyframe', 'live-edge'] as const;
const FRAME_MS = 1000 / 30;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What one viewer saw: when its first picture came (ms after joining) and the age of the picture on screen at 1 s. */
interface Seen {
  firstMs: number | undefined;
  /** Age of the first picture when shown. */
  firstAgeMs: number | undefined;
  ageAt1sMs: number | undefined;
  /** Pictures shown in the first second that were more than 100 ms old when shown. */
  stale: number;
}

/** Tracks the picture on screen; `show` is called for each picture shown. */
function screen(t0: number): { show: (capturedAtMs: number) => void; result: () => Seen } {
  let firstMs: number | undefined;
  let firstAgeMs: number | undefined;
  let stale = 0;
  let onScreen: number | undefined;
  let ageAt1sMs: number | undefined;
  const timer = setTimeout(
    () => {
      if (onScreen !== undefined) ageAt1sMs = Date.now() - onScreen;
    },
    1000 - (performance.now() - t0),
  );
  return {
    show: (capturedAtMs) => {
      const age = Date.now() - capturedAtMs;
      if (firstMs === undefined) {
        firstMs = performance.now() - t0;
        firstAgeMs = age;
      }
      if (age > 100 && performance.now() - t0 <= 1000) stale++;
      onScreen = capturedAtMs;
    },
    result: () => {
      clearTimeout(timer);
      return { firstMs, firstAgeMs, ageAt1sMs, stale };
    },
  };
}

/** Raw TCP: frames by the client library's framer (it reads the capture-time SEI), shown asap or paced. */
function rawViewer(port: number, paced: boolean, t0: number): () => Seen {
  const s = screen(t0);
  const queue: number[] = [];
  const framer = new AnnexBFramer({
    onAccessUnit: (au) => {
      if (au.capturedAtMs === undefined) return;
      if (paced) queue.push(au.capturedAtMs);
      else s.show(au.capturedAtMs);
    },
  });
  const socket = tcpConnect(port, '127.0.0.1');
  socket.on('data', (d: Buffer) => framer.push(d));
  socket.on('error', () => undefined);
  // The paced reader takes the oldest waiting frame once per frame interval, as a read loop at 30 fps does.
  const pacer = paced
    ? setInterval(() => {
        const f = queue.shift();
        if (f !== undefined) s.show(f);
      }, FRAME_MS)
    : undefined;
  return () => {
    if (pacer) clearInterval(pacer);
    socket.destroy();
    return s.result();
  };
}

function libraryViewer(port: number, t0: number): () => Seen {
  const s = screen(t0);
  const conn = connect(`tcp://127.0.0.1:${port}`); // policy 'latest', join 'live-edge'
  void (async () => {
    for await (const f of conn) if (!f.catchUp && f.capturedAtMs !== undefined) s.show(f.capturedAtMs);
  })().catch(() => undefined);
  return () => {
    void conn.close();
    return s.result();
  };
}

function wsViewer(apiPort: number, join: string, t0: number): () => Seen {
  const s = screen(t0);
  const ws = new WebSocket(`ws://127.0.0.1:${apiPort}/api/v1/live?join=${join}`);
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) return;
    const f = parseLiveFrame(new Uint8Array(data));
    if (!f.catchUp) s.show(f.capturedAtMs);
  });
  ws.on('error', () => undefined);
  return () => {
    ws.terminate();
    return s.result();
  };
}

const VIEWERS = ['raw asap', 'raw paced', 'library', 'ws'] as const;

async function main(): Promise<void> {
  const daemons: Array<[string, ServeProcess]> = [];
  try {
    for (const p of POLICIES) daemons.push([p, await startServe(['--join', p], { waitForApi: true })]);
    await sleep(2000); // every daemon streaming, its GOP cache filled
    const results = new Map<string, Seen[]>();
    for (let t = 0; t < TRIALS; t++) {
      for (const [policy, d] of daemons) {
        await sleep(Math.random() * 1000); // a random point of the GOP
        const t0 = performance.now();
        const stops = [
          rawViewer(d.streamPort, false, t0),
          rawViewer(d.streamPort, true, t0),
          libraryViewer(d.streamPort, t0),
          wsViewer(d.apiPort as number, policy, t0),
        ];
        await sleep(1100);
        stops.forEach((stop, i) => {
          const key = `${policy}\t${VIEWERS[i]}`;
          results.set(key, [...(results.get(key) ?? []), stop()]);
        });
      }
    }
    console.log(
      `Joining the bundled sample (640x360, 30 fps, 1 s GOP), ${TRIALS} joins per policy at random points of the GOP\n`,
    );
    console.log(
      '| port-5000 policy / ?join= | viewer | first picture after, median / max | its age, median / max | pictures > 100 ms old shown in the first second, median / max | age of the picture on screen 1 s after joining, median / max | no picture by 1 s |',
    );
    console.log('|---|---|---|---|---|---|---|');
    const f = (x: number): string => `${Math.round(x)} ms`;
    for (const [key, seen] of results) {
      const [policy, viewer] = key.split('\t') as [string, string];
      const first = seen.map((s) => s.firstMs).filter((x): x is number => x !== undefined);
      const age = seen.map((s) => s.ageAt1sMs).filter((x): x is number => x !== undefined);
      const firstAge = seen.map((s) => s.firstAgeMs).filter((x): x is number => x !== undefined);
      const stale = seen.map((s) => s.stale);
      const label = viewer === 'library' ? 'library (join live-edge)' : viewer === 'ws' ? `ws ?join=${policy}` : viewer;
      console.log(
        `| ${policy} | ${label} | ${first.length ? `${f(percentile(first, 50))} / ${f(Math.max(...first))}` : '-'} | ${firstAge.length ? `${f(percentile(firstAge, 50))} / ${f(Math.max(...firstAge))}` : '-'} | ${percentile(stale, 50)} / ${Math.max(...stale)} | ${age.length ? `${f(percentile(age, 50))} / ${f(Math.max(...age))}` : '-'} | ${seen.length - age.length} of ${seen.length} |`,
      );
    }
  } finally {
    for (const [, d] of daemons) await d.close();
  }
}

await main();
