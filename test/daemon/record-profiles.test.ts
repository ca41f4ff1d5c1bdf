/**
 * Two profiles from one camera, end to end: with no options the stream on
 * port 5000 is 640x360 and the recordings 1280x720 (ffprobe on what a real
 * `rearview serve` serves and writes), for the sample source and the ffmpeg
 * source (lavfi test pattern); with `--record-profile same` both are the
 * stream's. Both profiles survive a SIGKILL of the daemon (the cut segment
 * repaired), a restart of the source, a PATCH of either profile's size, and
 * exclusive mode keeps each phase on its own hub.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ApiService } from '../../src/api/api-service.js';
import type { SettingsPatchResult } from '../../src/api/settings-store.js';
import type { StatusDocument } from '../../src/api/status-document.js';
import { readMatroskaHeader } from '../../src/recorder/matroska-file.js';
import type { RecorderService } from '../../src/recorder/recorder-service.js';
import type { ProcessSource } from '../../src/sources/process-source.js';
import { decodeErrors, probe } from '../recorder/recording-fixtures.js';
import { startDaemonInProcess, startServe } from '../support/daemon.js';
import { scratchDir } from '../support/paths.js';
import { requireTool } from '../support/tools.js';
import { waitFor } from '../support/wait.js';

const mkvs = (dir: string): string[] =>
  readdirSync(dir)
    .filter((n) => /^log\d{4}\.mkv$/.test(n))
    .sort();

/** Reads `bytes` of the raw stream on `port` into `dir/name` and returns ffprobe's size of it. */
async function probeStream(port: number, dir: string, name: string, bytes = 150_000): Promise<string> {
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    let got = 0;
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`only ${got} bytes from port ${port} in 20 s`));
    }, 20_000);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      got += chunk.length;
      if (got >= bytes) {
        clearTimeout(timer);
        socket.destroy();
        resolve();
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  const path = join(dir, `${name}.h264`);
  writeFileSync(path, Buffer.concat(chunks));
  return sizeOf(path);
}

/** The size ffprobe reads from a file's headers (no decoding: cheap on a loaded machine). */
function sizeOf(path: string): string {
  const r = spawnSync(
    requireTool('ffprobe'),
    ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'csv=p=0:s=x', path],
    { encoding: 'utf8' },
  );
  return r.stdout.trim();
}

function serveArgs(dir: string, ...extra: string[]): string[] {
  return [
    '--stream-port',
    '0',
    '--api-port',
    '0',
    '--no-mdns',
    '--bind',
    '127.0.0.1',
    '--recordings',
    dir,
    '--segment',
    '1s',
    '--log-level',
    'info',
    ...extra,
  ];
}

async function status(apiPort: number): Promise<StatusDocument> {
  return (await (await fetch(`http://127.0.0.1:${apiPort}/api/v1/status`)).json()) as StatusDocument;
}

describe('record profiles: rearview serve', () => {
  it('sample, no options: the stream is 640x360, the recordings 1280x720; --record-profile same: both 640x360', async () => {
    requireTool('ffprobe');
    const { dir, cleanup } = scratchDir();
    try {
      const separateDir = join(dir, 'separate');
      const serve = await startServe(serveArgs(separateDir), { rawArgs: true, waitForApi: true });
      try {
        assert.equal(await probeStream(serve.streamPort, dir, 'separate'), '640x360');
        await waitFor(() => mkvs(separateDir).length >= 2, 'a finished segment', 20_000, 50);
        const s = await status(serve.apiPort!);
        assert.equal(s.recording.profile, 'separate');
        assert.equal(s.recording.resolution, '1280x720');
        assert.equal(s.stream.resolution, '640x360');
        await waitFor(() => readdirSync(separateDir).some((n) => n.endsWith('.jpg')), 'a thumbnail', 20_000, 50);
      } finally {
        await serve.close();
      }
      for (const name of mkvs(separateDir).slice(0, 2)) assert.equal(sizeOf(join(separateDir, name)), '1280x720', name);
      // The thumbnail is made from the recording: its full size.
      const jpg = readdirSync(separateDir).find((n) => n.endsWith('.jpg')) as string;
      assert.equal(sizeOf(join(separateDir, jpg)), '1280x720');

      const sameDir = join(dir, 'same');
      const same = await startServe(serveArgs(sameDir, '--record-profile', 'same'), {
        rawArgs: true,
        waitForApi: true,
      });
      try {
        assert.equal(await probeStream(same.streamPort, dir, 'same'), '640x360');
        await waitFor(() => mkvs(sameDir).length >= 2, 'a finished segment', 20_000, 50);
        const s = await status(same.apiPort!);
        assert.equal(s.recording.profile, 'same');
        assert.equal(s.recording.resolution, '640x360');
      } finally {
        await same.close();
      }
      for (const name of mkvs(sameDir).slice(0, 2)) assert.equal(sizeOf(join(sameDir, name)), '640x360', name);
    } finally {
      cleanup();
    }
  });

  it('ffmpeg (test pattern): 640x360 stream, 1280x720 recordings, both again after a SIGKILL, the cut segment repaired', async () => {
    requireTool('ffmpeg');
    const { dir, cleanup } = scratchDir();
    const rec = join(dir, 'recordings');
    try {
      // The default sizes; frame rates and bitrates lowered so the two encodes cost the test little CPU.
      const args = serveArgs(rec, '--source', 'ffmpeg', '--fps', '10', '--record-fps', '10', '--bitrate', '300k');
      let serve = await startServe([...args, '--record-bitrate', '2M'], { rawArgs: true, waitForApi: true });
      let killedAt: string[];
      try {
        assert.equal(await probeStream(serve.streamPort, dir, 'first'), '640x360');
        await waitFor(() => mkvs(rec).length >= 2, 'a finished segment', 30_000, 50);
        assert.ok(
          serve.stderrLines.some((l) => l.includes('recording profile: 1280x720 10 fps 2 Mbit/s high, stream 640x360')),
          serve.stderrLines.join('\n'),
        );
        killedAt = mkvs(rec);
        serve.process.kill('SIGKILL');
        await serve.exited;
      } finally {
        await serve.close();
      }
      // The next start repairs the cut segment and goes on with both profiles.
      serve = await startServe([...args, '--record-bitrate', '2M'], { rawArgs: true, waitForApi: true });
      try {
        assert.equal(await probeStream(serve.streamPort, dir, 'after-kill'), '640x360');
        await waitFor(() => mkvs(rec).length >= killedAt.length + 2, 'two more segments', 30_000, 50);
      } finally {
        await serve.close();
      }
      for (const name of mkvs(rec)) {
        const path = join(rec, name);
        assert.equal(sizeOf(path), '1280x720', name);
        assert.ok((await readMatroskaHeader(path)).durationMs !== null, `${name} has a duration`);
      }
      // The segment cut by the kill was repaired and decodes without error. (On a loaded machine the encoder's
      // frames can arrive in bursts, stamped closer than one frame interval; ffmpeg's null output then remarks
      // on "non monotonically increasing dts" at its 1/fps time base. That is muxing, not decoding.)
      const cut = join(rec, killedAt.at(-1) as string);
      const p = probe(cut);
      assert.ok(p.frames > 0 && p.firstFrameKey, `${killedAt.at(-1)} starts with a keyframe`);
      assert.equal(
        decodeErrors(cut)
          .replace(/^.*non monotonically increasing dts.*$/gm, '')
          .trim(),
        '',
      );
    } finally {
      cleanup();
    }
  });
});

async function patch(apiPort: number, body: unknown): Promise<SettingsPatchResult> {
  const r = await fetch(`http://127.0.0.1:${apiPort}/api/v1/settings`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await r.json()) as SettingsPatchResult;
  assert.equal(r.status, 200, JSON.stringify(json));
  return json;
}

describe('record profiles: a running daemon', () => {
  it('ffmpeg: both profiles survive a killed encoder and a PATCH of either size', async () => {
    requireTool('ffmpeg');
    const d = await startDaemonInProcess({
      source: 'ffmpeg',
      record: true,
      segmentMs: '1s',
      deviceBackend: 'simulated',
      minFreeBytes: 0,
      minFreePercent: 0,
      // Smaller than the defaults, so the test costs less CPU; the sizes still differ as the profiles do.
      video: { width: 320, height: 180, bitrateBps: '300k' },
      recordVideo: { width: 640, height: 360, bitrateBps: '1M' },
    });
    const { daemon } = d;
    const rec = d.config.recordingsDir;
    const apiPort = daemon.apiAddress!.port;
    const recorder = (daemon.services.find((s) => s.name === 'recorder') as RecorderService).recorder;
    const sizes = () =>
      `${daemon.hub.params?.width}x${daemon.hub.params?.height} ${daemon.recordingHub.params?.width}x${daemon.recordingHub.params?.height}`;
    const scratch = scratchDir();
    try {
      assert.notEqual(daemon.recordingHub, daemon.hub);
      await waitFor(() => sizes() === '320x180 640x360', 'both profiles published', 20_000);
      await waitFor(() => recorder.status.currentSegment !== null, 'a segment', 20_000);

      // The encoder dies: the supervisor restarts it, both hubs start a new generation.
      const generations = [daemon.hub.stats().generation, daemon.recordingHub.stats().generation];
      const pid = (daemon.sourceSupervisor.currentSource as ProcessSource).pid as number;
      process.kill(-pid, 'SIGKILL');
      await waitFor(
        () =>
          daemon.hub.stats().generation > (generations[0] as number) &&
          daemon.recordingHub.stats().generation > (generations[1] as number),
        'a new generation on both hubs',
        20_000,
      );
      assert.equal(daemon.sourceSupervisor.restarts, 1);
      assert.equal(sizes(), '320x180 640x360');
      assert.equal(await probeStream(d.streamPort, scratch.dir, 'after-restart', 40_000), '320x180');

      // The recording profile's size changes; the stream keeps its own.
      const before = mkvs(rec).length;
      const r1 = await patch(apiPort, { recordVideo: { width: 480, height: 270 } });
      assert.deepEqual(r1.changed, ['recordVideo.width', 'recordVideo.height']);
      assert.equal(r1.applied.restartedSource, true);
      assert.deepEqual(r1.recordVideo, { ...d.config.recordVideo, width: 480, height: 270 });
      await waitFor(() => sizes() === '320x180 480x270', 'the new recording size', 20_000);
      // Segments finished after the switch (the one before the newest, once two more exist) have the new size.
      const switched = mkvs(rec).length;
      await waitFor(() => mkvs(rec).length >= switched + 3, 'segments at the new size', 20_000);
      assert.ok(switched >= before);
      assert.equal(sizeOf(join(rec, mkvs(rec).at(-2) as string)), '480x270');

      // The stream's size changes; the recording keeps its own.
      await patch(apiPort, { resolution: '256x144' });
      await waitFor(() => sizes() === '256x144 480x270', 'the new stream size', 20_000);
      assert.equal(await probeStream(d.streamPort, scratch.dir, 'after-patch', 40_000), '256x144');
      const s = await status(apiPort);
      assert.equal(s.recording.resolution, '480x270');
      assert.equal(s.stream.resolution, '256x144');
    } finally {
      await d.close();
      scratch.cleanup();
    }
  });

  it('exclusive mode: the recording phase records the recording hub, the streaming phase serves the stream hub', async () => {
    const d = await startDaemonInProcess({
      mode: 'exclusive',
      streamWindowMs: '1s',
      record: true,
      segmentMs: '1s',
      deviceBackend: 'simulated',
      minFreeBytes: 0,
      minFreePercent: 0,
    });
    const { daemon } = d;
    const apiPort = daemon.apiAddress!.port;
    const rec = d.config.recordingsDir;
    const modes = (daemon.services.find((s) => s.name === 'api') as ApiService).modes!;
    const scratch = scratchDir();
    try {
      // The window closes with no client: recording, on the recording hub.
      await waitFor(() => modes.state.activity === 'recording', 'the recording phase', 20_000);
      await waitFor(() => mkvs(rec).length >= 2, 'a finished segment', 20_000, 50);
      assert.equal(sizeOf(join(rec, mkvs(rec)[0] as string)), '1280x720');
      // Streaming again, in a window long enough for a loaded machine: port 5000 serves the stream hub.
      await patch(apiPort, { streamWindowMs: '60s' });
      const r = await fetch(`http://127.0.0.1:${apiPort}/restart-stream-mode`, { method: 'PUT' });
      assert.equal(r.status, 200);
      await waitFor(() => modes.state.activity === 'streaming', 'the streaming phase', 20_000);
      assert.equal(await probeStream(d.streamPort, scratch.dir, 'exclusive'), '640x360');
    } finally {
      await d.close();
      scratch.cleanup();
    }
  });
});
