/**
 * Moments and clips against the real `rearview serve` (the bundled sample,
 * recorded in 2 s segments with --max-files 3): a moment's segments stay
 * through 20 s of rotation, are listed (protected) by both list routes,
 * survive a SIGKILL and a legacy wipe (which says how many it kept); a clip
 * across three joins decodes without error over HTTP and with
 * `rearview clip`. A short press of the button marks a moment and the LED
 * is asked to confirm it (in-process daemon, the press reported as the power button does).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ApiService } from '../../src/api/api-service.js';
import type {
  MomentDocument,
  MomentsListDocument,
  RecordingsListDocument,
  RidesListDocument,
} from '../../src/api/wire-types.js';
import { parseProtectedName, parseSegmentName } from '../../src/recorder/segment-names.js';
import { CameraClient } from '../../src/client/camera-client.js';
import { ClientError } from '../../src/client/client-error.js';
import { runCli } from '../cli/cli-run.js';
import { decodeErrors, probe } from '../recorder/recording-fixtures.js';
import { startDaemonInProcess, startServe, type ServeProcess } from '../support/daemon.js';
import { scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';

function serveArgs(dir: string): string[] {
  return [
    ...['--stream-port', '0', '--api-port', '0', '--no-mdns', '--bind', '127.0.0.1', '--recordings', dir],
    ...['--segment', '2s', '--max-files', '3', '--moment-before', '5s', '--moment-after', '3s'],
    ...['--device-backend', 'simulated'],
  ];
}

const kept = (dir: string): string[] =>
  readdirSync(dir)
    .filter((n) => parseProtectedName(n) !== undefined)
    .sort();
const ring = (dir: string): string[] => readdirSync(dir).filter((n) => parseSegmentName(n) !== undefined);

async function getJson<T>(port: number, path: string): Promise<T> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  assert.equal(r.status, 200, `${path}: ${r.status}`);
  return (await r.json()) as T;
}

const rotations = (serve: ServeProcess): number =>
  serve.stderrLines.filter((l) => l.includes('rotation: deleted')).length;

describe('moments on rearview serve (--segment 2s --max-files 3)', () => {
  it('keeps the window through rotation, a SIGKILL and a legacy wipe; clips across joins', async () => {
    const { dir, cleanup } = scratchDir('rearview-moments-serve-');
    const rec = join(dir, 'recordings');
    let serve = await startServe(serveArgs(rec), { rawArgs: true, waitForApi: true });
    try {
      const port = serve.apiPort as number;
      await waitFor(() => ring(rec).length >= 3, 'three segments', 30_000, 50);
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/moments`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ note: 'close pass' }),
      });
      assert.equal(r.status, 201);
      const marked = (await r.json()) as MomentDocument;
      assert.equal(marked.note, 'close pass');
      assert.equal(Date.parse(marked.to) - Date.parse(marked.from), 8000);
      // A second mark at once is rate-limited, with the reason.
      const again = await fetch(`http://127.0.0.1:${port}/api/v1/moments`, { method: 'POST' });
      assert.equal(again.status, 429);
      assert.match(((await again.json()) as { error: { message: string } }).error.message, /one mark per 5 s/);

      // 20 s of rotation after the window closed (10 segments of 2 s deleted in a ring of 3).
      await waitFor(
        async () => (await getJson<MomentsListDocument>(port, '/api/v1/moments')).moments[0]?.complete === true,
        'the moment complete',
        30_000,
        100,
      );
      const from = rotations(serve);
      await waitFor(() => rotations(serve) >= from + 10, '20 s of rotation', 120_000, 100);
      const [m] = (await getJson<MomentsListDocument>(port, '/api/v1/moments')).moments;
      assert.ok(m);
      assert.ok(m.segments.length >= 4, `an 8 s window of 2 s segments: ${m.segments}`);
      assert.deepEqual([...m.segments].sort(), kept(rec));
      assert.ok(ring(rec).length <= 3, `the ring keeps its 3 names: ${ring(rec)}`);
      for (const n of m.segments) assert.equal(decodeErrors(join(rec, n)), '', n);
      // Listed by both list routes, marked protected in v1.
      const v1 = await getJson<RecordingsListDocument>(port, '/api/v1/recordings');
      for (const n of m.segments) assert.equal(v1.recordings.find((x) => x.name === n)?.protected, true, n);
      const legacy = await getJson<{ path: string }[]>(port, '/list-local-videos');
      for (const n of m.segments)
        assert.ok(
          legacy.some((x) => x.path === join(rec, n)),
          n,
        );
      const rides = await getJson<RidesListDocument>(port, '/api/v1/rides');
      assert.ok(rides.rides.some((ride) => ride.moments.includes(m.id)));

      // A clip across three joins (four segments of the moment), over HTTP and with the CLI. On a
      // loaded machine the recorder may have skipped to a keyframe inside the window (a gap the
      // clip refuses with 409, rightly): the clip takes the longest run of segments without one.
      const segs = v1.recordings
        .filter((x) => m.segments.includes(x.name))
        .sort((a, b) => Date.parse(a.startedAt as string) - Date.parse(b.startedAt as string));
      let run: typeof segs = [];
      for (let i = 0, start = 0; i < segs.length; i++) {
        const prev = segs[i - 1];
        const cur = segs[i] as (typeof segs)[number];
        const gap = prev
          ? Date.parse(cur.startedAt as string) - (Date.parse(prev.startedAt as string) + (prev.durationMs ?? 0))
          : 0;
        if (gap > 100) start = i;
        if (i - start + 1 > run.length) run = segs.slice(start, i + 1);
      }
      run = run.slice(0, 4);
      assert.ok(
        run.length >= 2,
        `a clip needs two segments in a row: ${segs.map((x) => `${x.name} ${x.startedAt} ${x.durationMs}`)}`,
      );
      const clipFrom = new Date(Date.parse(run[0]?.startedAt as string) + 500).toISOString();
      const clipTo = new Date(Date.parse(run.at(-1)?.startedAt as string) + 1000).toISOString();
      const out = join(dir, 'clip.mp4');
      const cli = await runCli(
        ['clip', '--camera', `127.0.0.1:${port}`, '--from', clipFrom, '--to', clipTo, '-o', out, '--progress', 'json'],
        { timeoutMs: 60_000 },
      );
      assert.equal(cli.code, 0, cli.stderr);
      assert.match(cli.stdout, new RegExp(`${run.length} segment\\(s\\)`));
      assert.ok(
        cli.stderr.split('\n').some((l) => l.includes('"event":"finish"')),
        cli.stderr,
      );
      assert.equal(decodeErrors(out), '');
      const p = probe(out);
      assert.ok(p.firstFrameKey && p.frames > 60, `${p.frames} frames`);
      const http = await fetch(`http://127.0.0.1:${port}/api/v1/clip?from=${encodeURIComponent(clipFrom)}&duration=1s`);
      assert.equal(http.status, 200);
      assert.ok(Date.parse(http.headers.get('x-clip-start') as string) <= Date.parse(clipFrom));
      await http.arrayBuffer();
      // Bad input: 400 with the reason; a range with no recording.
      const bad = await fetch(
        `http://127.0.0.1:${port}/api/v1/clip?from=${encodeURIComponent(clipTo)}&to=${encodeURIComponent(clipFrom)}`,
      );
      assert.equal(bad.status, 400);
      const none = await fetch(`http://127.0.0.1:${port}/api/v1/clip?from=2020-01-01T00:00:00Z&duration=10s`);
      assert.equal(none.status, 400);
      assert.match(await none.text(), /no recording between/);

      // SIGKILL, then a restart over the same folder.
      serve.process.kill('SIGKILL');
      await serve.exited;
      await serve.close();
      serve = await startServe(serveArgs(rec), { rawArgs: true, waitForApi: true });
      const port2 = serve.apiPort as number;
      const after = (await getJson<MomentsListDocument>(port2, '/api/v1/moments')).moments;
      assert.deepEqual(
        after.map((x) => [x.id, x.note, x.segments]),
        [[m.id, 'close pass', m.segments]],
      );
      const fromRestart = rotations(serve);
      await waitFor(() => rotations(serve) >= fromRestart + 3, 'rotation after the restart', 30_000, 100);
      assert.deepEqual(kept(rec), [...m.segments].sort());

      // The legacy wipe keeps them and says so; deleting one protected segment directly is refused.
      const wipe = await fetch(`http://127.0.0.1:${port2}/wipe-local-videos`);
      assert.match(
        await wipe.text(),
        new RegExp(`^Wiped \\d+ local videos; kept ${m.segments.length} protected by moments$`),
      );
      assert.deepEqual(kept(rec), [...m.segments].sort());
      const del = await fetch(`http://127.0.0.1:${port2}/api/v1/recordings/${m.segments[0]}`, { method: 'DELETE' });
      assert.equal(del.status, 409);
      // Releasing the moment deletes its segments.
      const rel = await fetch(`http://127.0.0.1:${port2}/api/v1/moments/${m.id}`, { method: 'DELETE' });
      assert.equal(rel.status, 200);
      assert.deepEqual(kept(rec), []);
      assert.ok(JSON.parse(readFileSync(join(rec, '.moments.json'), 'utf8')).moments.length === 0);
    } catch (err) {
      // What the daemon said last: a failed request alone does not say whether it was refused or the daemon fell.
      const log = serve.stderrLines.slice(-40).join('\n');
      const exit = serve.process.exitCode ?? serve.process.signalCode;
      throw new Error(
        `${(err as Error).message}\n(cause: ${String((err as Error).cause ?? '')})\nrearview serve (exit ${exit ?? 'none'}) said last:\n${log}`,
      );
    } finally {
      await serve.close();
      cleanup();
    }
  });

  it('a short press of the button marks a moment and asks the LED to confirm it', async () => {
    const d = await startDaemonInProcess({ deviceBackend: 'simulated', record: true, segmentMs: 2000 });
    try {
      const api = d.daemon.services.find((s) => s.name === 'api') as ApiService;
      const port = d.daemon.apiAddress?.port as number;
      // The LED's own timing (solid 1 s, its priority) is led-controller.test's; here: the mark asks for it.
      const led = api.device?.led;
      assert.ok(led);
      let confirmed = 0;
      const markMoment = led.markMoment.bind(led);
      led.markMoment = (ms?: number) => {
        confirmed++;
        markMoment(ms);
      };
      api.device?.reportButton({ press: 'short', heldMs: 120 });
      await waitFor(
        async () => (await getJson<MomentsListDocument>(port, '/api/v1/moments')).moments.length === 1,
        'a moment from the button',
      );
      const [m] = (await getJson<MomentsListDocument>(port, '/api/v1/moments')).moments;
      assert.equal(m?.source, 'button');
      await waitFor(() => confirmed === 1, 'the LED asked to confirm the mark');

      // The client library, typed from the wire types.
      const client = new CameraClient(`127.0.0.1:${port}`);
      const listed = await client.moments();
      assert.deepEqual(
        listed.map((x) => x.id),
        [m?.id],
      );
      await assert.rejects(
        client.markMoment('again'),
        (err) => err instanceof ClientError && err.status === 429 && err.remoteCode === 'ERR_RATE_LIMITED',
      );
      await waitFor(async () => (await client.rides()).length > 0, 'a ride');
      const rides = await runCli(['videos', 'list', '--rides', '--camera', `127.0.0.1:${port}`]);
      assert.equal(rides.code, 0, rides.stderr);
      assert.match(rides.stdout, /segment\(s\) \(log0000[-.\d]*mkv \.\. log\d{4}[-.\d]*mkv\), 1 moment\(s\)/);
      const badAt = await runCli(['videos', 'list', '--rides', '--at', 'noon', '--camera', `127.0.0.1:${port}`]);
      assert.equal(badAt.code, 2, badAt.stderr);
      const released = await client.deleteMoment(m?.id as string);
      assert.equal(released.deleted, m?.id);
      assert.deepEqual(await client.moments(), []);
    } finally {
      await d.close();
    }
  });
});
