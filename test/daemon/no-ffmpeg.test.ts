/**
 * No ffmpeg is bundled with the package. On a machine without one (nothing
 * on PATH, REARVIEW_FFMPEG unset) the daemon records as usual, turns
 * thumbnails off with exactly one warning, and says so in the status; and
 * `rearview doctor` warns. Never a silent failure, never a warning per segment.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../cli/cli-run.js';
import { startServe } from '../support/daemon.js';
import { scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';

test('without ffmpeg: recording goes on, thumbnails are off with one warning, status and doctor say why', async () => {
  const scratch = scratchDir();
  const emptyBin = join(scratch.dir, 'bin');
  mkdirSync(emptyBin);
  const recordings = join(scratch.dir, 'recordings');
  const env = { ...process.env, PATH: emptyBin, REARVIEW_FFMPEG: '' };
  const serve = await startServe(
    [
      '--stream-port',
      '0',
      '--api-port',
      '0',
      '--no-mdns',
      '--recordings',
      recordings,
      '--segment',
      '1s',
      '--bind',
      '127.0.0.1',
    ],
    { env, rawArgs: true, waitForApi: true },
  );
  try {
    const segments = (): string[] => readdirSync(recordings).filter((n) => /^log\d{4}\.mkv$/.test(n));
    await waitFor(() => segments().length >= 3, 'three segments (two of them complete)');
    const res = await fetch(`http://127.0.0.1:${serve.apiPort}/api/v1/status`);
    const status = (await res.json()) as {
      recording: { active: boolean; thumbnails: { enabled: boolean; reason: string | null } | null };
    };
    assert.equal(status.recording.active, true);
    assert.equal(status.recording.thumbnails?.enabled, false);
    assert.match(
      status.recording.thumbnails?.reason ?? '',
      /^thumbnails are off: no ffmpeg found: install it .* or set REARVIEW_FFMPEG to its path$/,
    );
    assert.deepEqual(
      readdirSync(recordings).filter((n) => n.endsWith('.jpg') || n.endsWith('.part')),
      [],
      'no thumbnail and no temporary file',
    );
    const warnings = serve.stderrLines.filter((l) => l.includes('thumbnails are off'));
    assert.equal(warnings.length, 1, serve.stderrLines.join('\n'));
    assert.match(warnings[0] ?? '', /warn/i);
  } finally {
    await serve.close();
  }
  try {
    const doctor = await runCli(
      ['doctor', '--api-port', '0', '--stream-port', '0', '--recordings', recordings, '--json'],
      { env },
    );
    const checks = JSON.parse(doctor.stdout) as { name: string; status: string; message: string }[];
    const ffmpeg = checks.find((c) => c.name === 'ffmpeg');
    assert.equal(ffmpeg?.status, 'warn', doctor.stdout);
    assert.match(ffmpeg?.message ?? '', /^thumbnails are off and decode\(\) fails: no ffmpeg found: install it/);
    const withFfmpeg = await runCli([
      'doctor',
      '--api-port',
      '0',
      '--stream-port',
      '0',
      '--recordings',
      recordings,
      '--json',
    ]);
    const found = (JSON.parse(withFfmpeg.stdout) as { name: string; status: string; message: string }[]).find(
      (c) => c.name === 'ffmpeg',
    );
    assert.equal(found?.status, 'ok', withFfmpeg.stdout);
    assert.match(found?.message ?? '', /^\/.*ffmpeg \(thumbnails, decode\(\)\)$/);
  } finally {
    scratch.cleanup();
  }
});
