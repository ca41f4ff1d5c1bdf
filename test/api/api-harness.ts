/**
 * Shared set-up of the HTTP API tests: a recordings folder with real MKV
 * segments (made by ffmpeg) and thumbnails, the recorder's library over it, a
 * simulated device, and an ApiServer on 127.0.0.1 port 0; plus a `curl`
 * runner, since the device's docs use curl.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConfig, mergeConfig, type ConfigInput, type RearviewConfig } from '../../src/config.js';
import { createCameraDevice, type CameraDevice } from '../../src/device/camera-device.js';
import type { FakeClock } from '../support/fake-clock.js';
import type { Mp4Streamer, RecordingStore, StreamStatus } from '../../src/api/api-services.js';
import { ApiServer, type ApiServerOptions } from '../../src/api/http-api.js';
import { compileAllowList } from '../../src/api/network-allow-list.js';
import { SettingsStore, type SettingsApplyResult } from '../../src/api/settings-store.js';
import { ModeController } from '../../src/modes/mode-controller.js';
import { RecordingLibrary } from '../../src/recorder/recording-library.js';
import { mp4StreamerFromLibrary, recordingStoreFromLibrary } from '../../src/api/api-service.js';
import { requireTool } from '../support/tools.js';

/** Unix seconds of the fixtures' modification times: log0001 oldest. */
export const FIXTURE_MTIMES_S = [1713198307, 1713198367, 1713198427];

/** Makes `count` one-second MKV segments log0001.mkv.. with thumbnails log000N_<unix>.jpg. */
export function makeRecordings(dir: string, count = 3): string[] {
  const ffmpeg = requireTool('ffmpeg');
  const first = join(dir, 'log0001.mkv');
  const r = spawnSync(ffmpeg, [
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=320x180:rate=30',
    '-t',
    '1',
    '-c:v',
    'libx264',
    '-bf',
    '0',
    '-g',
    '30',
    '-pix_fmt',
    'yuv420p',
    first,
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg failed: ${r.stderr}`);
  const thumb = spawnSync(ffmpeg, [
    '-v',
    'error',
    '-y',
    '-i',
    first,
    '-frames:v',
    '1',
    '-q:v',
    '5',
    join(dir, 'thumb.tmp.jpg'),
  ]);
  if (thumb.status !== 0) throw new Error(`ffmpeg thumbnail failed: ${thumb.stderr}`);
  const names: string[] = [];
  for (let i = 1; i <= count; i++) {
    const name = `log${String(i).padStart(4, '0')}.mkv`;
    if (i > 1) copyFileSync(first, join(dir, name));
    const mtime = FIXTURE_MTIMES_S[i - 1] ?? FIXTURE_MTIMES_S[0]! + 60 * i;
    copyFileSync(join(dir, 'thumb.tmp.jpg'), join(dir, `log${String(i).padStart(4, '0')}_${mtime}.jpg`));
    utimesSync(join(dir, name), mtime, mtime);
    names.push(name);
  }
  rmSync(join(dir, 'thumb.tmp.jpg'));
  return names;
}

/** A stream status as the daemon would report it. */
export function fakeStreamStatus(overrides: Partial<StreamStatus> = {}): StreamStatus {
  return {
    source: 'sample',
    sourceRunning: true,
    width: 640,
    height: 360,
    fps: 30,
    bitrateBps: 1_000_000,
    measuredBitrateBps: 990_000,
    framesPublished: 1234,
    recording: true,
    currentSegment: 'log0004.mkv',
    clients: [
      { kind: 'tcp', remote: '127.0.0.1:50000', connectedMs: 5000, lagMs: 12, framesDropped: 3, bytesSent: 600_000 },
    ],
    ...overrides,
  };
}

/** A running test API and what it was built from. */
export interface TestApi {
  server: ApiServer;
  url: string;
  port: number;
  config: () => RearviewConfig;
  device: CameraDevice;
  modes: ModeController;
  store: RecordingStore;
  applied: Array<{ changed: string[]; sourceChanged: boolean }>;
  close(): Promise<void>;
}

/** Starts an ApiServer over `recordingsDir` with a simulated device. */
export async function startTestApi(
  recordingsDir: string,
  options: {
    config?: ConfigInput;
    configFile?: string;
    api?: Partial<ApiServerOptions>;
    clock?: FakeClock;
  } = {},
): Promise<TestApi> {
  let config = mergeConfig(defaultConfig(), {
    recordingsDir,
    apiPort: 0,
    bind: '127.0.0.1',
    ...(options.config ?? {}),
  });
  const device = await createCameraDevice({ backend: 'simulated', watchPower: false });
  device.start();
  const modes = new ModeController({
    mode: config.mode,
    streamWindowMs: config.streamWindowMs,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  modes.start();
  // The recorder's RecordingLibrary and MP4 cache, wired as the daemon wires them.
  const library = new RecordingLibrary(recordingsDir);
  const store: RecordingStore = recordingStoreFromLibrary(library);
  const mp4: Mp4Streamer = mp4StreamerFromLibrary(library);
  const applied: TestApi['applied'] = [];
  const settings = new SettingsStore({
    get: () => config,
    configFile: options.configFile,
    apply: async (next, changed, sourceChanged): Promise<SettingsApplyResult> => {
      config = next;
      applied.push({ changed, sourceChanged });
      return { restartedSource: sourceChanged };
    },
  });
  const server = new ApiServer({
    config: () => config,
    allowList: compileAllowList(config.allowNetworks),
    recordings: store,
    mp4,
    device,
    modes,
    stream: () => fakeStreamStatus(),
    settings,
    version: '0.1.0-test',
    ...(options.api ?? {}),
  });
  const port = await server.start();
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    config: () => config,
    device,
    modes,
    store,
    applied,
    async close() {
      await server.close();
      modes.close();
      await device.close();
    },
  };
}

/** What curl got. */
export interface CurlResult {
  status: number;
  body: Buffer;
  text: string;
  headers: Record<string, string>;
  exitCode: number;
}

/** Runs /usr/bin/curl with `args` (URL included) and collects status, headers and body. */
export function curl(args: string[], scratch: string): Promise<CurlResult> {
  const out = join(scratch, `curl-${process.hrtime.bigint()}.out`);
  const hdr = `${out}.headers`;
  return new Promise((resolveDone, reject) => {
    const child = spawn(
      requireTool('curl'),
      ['-s', '-S', '--max-time', '30', '-o', out, '-D', hdr, '-w', '%{http_code}', ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const body = existsSync(out) ? readFileSync(out) : Buffer.alloc(0);
      const headers: Record<string, string> = {};
      if (existsSync(hdr)) {
        for (const line of readFileSync(hdr, 'utf8').split(/\r?\n/)) {
          const i = line.indexOf(':');
          if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
        }
      }
      rmSync(out, { force: true });
      rmSync(hdr, { force: true });
      resolveDone({
        status: Number(stdout.trim() || 0),
        body,
        text: body.toString('utf8'),
        headers,
        exitCode: code ?? -1,
      });
    });
  });
}

/** Writes a file (helper for symlink/escape fixtures). */
export function writeText(path: string, text: string): void {
  writeFileSync(path, text);
}
