/**
 * Power-cut safety: a recording process is killed with SIGKILL at random
 * moments, 20 times in a row, in the same folder. Every completed segment
 * must be intact, the interrupted one must play up to the last frame the
 * process had written, and the next start must repair it and continue the
 * numbering.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Recorder } from '../../src/recorder/recorder.js';
import { parseSegmentName } from '../../src/recorder/segment-names.js';
import { StreamHub } from '../../src/hub/stream-hub.js';
import { repoRoot, scratchDir } from '../support/paths.js';
import { decodeErrors, probe } from './recording-fixtures.js';

const runner = join(repoRoot, 'dist', 'test', 'recorder', 'recorder-runner.js');

/** Deterministic pseudo-random sequence (the kill moments differ per run but not between test runs). */
function lcg(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

interface RunResult {
  /** Segment names in the order the run wrote to them, with the last frame count seen for each. */
  written: Map<string, number>;
  first: string | undefined;
  last: string | undefined;
}

function runAndKill(dir: string, killAfterLines: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [runner, dir, '500', '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const written = new Map<string, number>();
    let first: string | undefined;
    let last: string | undefined;
    let lines = 0;
    let buf = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const [name, frames] = line.split(' ');
        if (name && name !== 'started' && name !== 'null') {
          written.set(name, Number(frames));
          first ??= name;
          last = name;
        }
        if (++lines === killAfterLines) child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`runner exited with ${code}: ${stderr}`));
      else resolve({ written, first, last });
    });
  });
}

test('SIGKILL at random moments, 20 times: completed segments intact, interrupted one repaired, numbering continues', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    const random = lcg(20261124);
    const checked = new Set<string>();
    let previous: RunResult | undefined;
    for (let run = 0; run < 20; run++) {
      const result = await runAndKill(dir, 2 + Math.floor(random() * 40));
      if (previous?.last && result.first) {
        const interrupted = parseSegmentName(previous.last) as number;
        assert.equal(
          parseSegmentName(result.first),
          interrupted + 1,
          `run ${run} continues numbering after ${previous.last}`,
        );
        checkInterrupted(dir, previous.last, previous.written.get(previous.last) ?? 0);
        checked.add(previous.last);
      }
      // Every segment this run completed (all but its last) must be whole.
      for (const [name, frames] of result.written) {
        if (name === result.last) continue;
        const path = join(dir, name);
        const p = probe(path);
        assert.ok(p.frames >= frames, `${name}: ${p.frames} frames, ${frames} were written`);
        assert.ok(p.firstFrameKey, `${name} starts with a keyframe`);
        assert.equal(decodeErrors(path), '', `${name} decodes cleanly`);
        assert.ok(
          Math.abs(p.durationS - p.frames / 30) <= 1 / 30 + 1e-3,
          `${name}: duration ${p.durationS} for ${p.frames} frames`,
        );
        checked.add(name);
      }
      previous = result.written.size > 0 ? result : previous;
    }
    // A last start in this process repairs the final interrupted segment.
    const recorder = new Recorder({
      hub: new StreamHub(),
      dir,
      thumbnails: false,
      retentionIntervalMs: 0,
      limits: { maxFiles: 0, maxBytes: 0, minFreeBytes: 0, minFreePercent: 0 },
    });
    await recorder.start();
    await recorder.close();
    if (previous?.last) {
      checkInterrupted(dir, previous.last, previous.written.get(previous.last) ?? 0);
      checked.add(previous.last);
    }
    assert.ok(checked.size >= 20, `checked ${checked.size} segments`);
    const left = readdirSync(dir).filter((n) => n.endsWith('.mkv'));
    for (const name of left)
      assert.equal(decodeErrors(join(dir, name)), '', `${name} decodes cleanly after all the kills`);
  } finally {
    cleanup();
  }
});

/**
 * The interrupted segment holds every frame the process reported written, except the ones whose
 * write was still in flight inside Node (mediabunny resolves add() once the bytes are queued to the
 * file's stream: at most two frames). Found by this test under load: 23 frames kept of 24 reported.
 */
function checkInterrupted(dir: string, name: string, framesWritten: number): void {
  const path = join(dir, name);
  const names = readdirSync(dir);
  if (!names.includes(name)) {
    // Only a segment killed before its first frame reached the file may be gone (nothing to keep).
    assert.ok(framesWritten <= 2, `${name} was removed although ${framesWritten} frames were written`);
    return;
  }
  const p = probe(path);
  assert.ok(
    p.frames >= framesWritten - 2,
    `${name}: ${p.frames} frames after repair, ${framesWritten} were written before the kill`,
  );
  assert.ok(p.firstFrameKey, `${name} starts with a keyframe`);
  assert.equal(decodeErrors(path), '', `${name} decodes cleanly after repair`);
  assert.ok(
    Number.isFinite(p.durationS) && Math.abs(p.durationS - p.frames / 30) <= 1 / 30 + 1e-3,
    `${name}: repaired duration ${p.durationS} for ${p.frames} frames`,
  );
}
