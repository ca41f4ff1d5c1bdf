/**
 * The daemon's young-generation cap (src/util/young-generation.ts), in child
 * processes since V8 flags are per process: objects that survive scavenges
 * grow an uncapped new space to many MB; capped it stays at its starting
 * size, also after a worker thread was created (which puts V8's flags back);
 * and `rearview serve`, started with the environment of the camera's systemd
 * unit (glibc malloc settings), runs and reports the small space in /metrics.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { startServe } from '../support/daemon.js';
import { repoRoot, scratchDir } from '../support/paths.js';

const MODULE = pathToFileURL(join(repoRoot, 'dist', 'src', 'util', 'young-generation.js')).href;
const MB = 1024 * 1024;

/** Runs a child that (optionally) caps, (optionally) creates a worker, then keeps objects alive across scavenges; its new space size. */
function newSpaceAfterChurn(cap: boolean, worker: boolean): number {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    import { Worker } from 'node:worker_threads';
    import { keepYoungGenerationSmall, keepAfterWorkerStarts } from ${JSON.stringify(MODULE)};
    if (${cap}) keepYoungGenerationSmall();
    if (${worker}) {
      const w = new Worker('0', { eval: true });
      keepAfterWorkerStarts(w);
      await new Promise((r) => w.on('exit', r));
    }
    const ring = new Array(40000);
    let k = 0;
    for (let round = 0; round < 1500; round++)
      for (let i = 0; i < 2000; i++) ring[k++ % ring.length] = { i, list: [i, i, i, i], s: 'x' + i };
    const space = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    process.stdout.write(String(space.space_size));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout);
}

test('uncapped, surviving objects grow the new space; capped, it keeps its size, also after a worker thread', () => {
  const uncapped = newSpaceAfterChurn(false, false);
  const capped = newSpaceAfterChurn(true, false);
  const cappedWithWorker = newSpaceAfterChurn(true, true);
  assert.ok(uncapped >= 8 * MB, `uncapped new space ${uncapped / MB} MB: the churn should grow it`);
  assert.ok(capped <= 4 * MB, `capped new space ${capped / MB} MB`);
  assert.ok(cappedWithWorker <= 4 * MB, `capped new space after a worker thread ${cappedWithWorker / MB} MB`);
});

test("rearview serve, with the environment of the camera's unit, runs with the cap: /metrics shows a new space of at most 4 MB", async () => {
  const scratch = scratchDir('rearview-young-');
  // As deploy/rearview.service starts it (its one Environment= line: the malloc settings).
  const unit = readFileSync(join(repoRoot, 'deploy', 'rearview.service'), 'utf8');
  const unitEnv = Object.fromEntries(
    (/^Environment=(.*)$/m.exec(unit)?.[1] ?? '').split(' ').map((pair) => pair.split('=', 2) as [string, string]),
  );
  assert.equal(unitEnv.MALLOC_ARENA_MAX, '2');
  const serve = await startServe(
    ['--source', 'sample', '--bind', '127.0.0.1', '--recordings', join(scratch.dir, 'recordings'), '--no-mdns'].concat([
      '--stream-port',
      '0',
      '--api-port',
      '0',
    ]),
    { rawArgs: true, waitForApi: true, env: { ...process.env, ...unitEnv } },
  );
  try {
    const text = await (await fetch(`http://127.0.0.1:${serve.apiPort}/metrics`)).text();
    const size = Number(/^rearview_heap_space_bytes\{space="new_space",kind="size"\} (\d+)$/m.exec(text)?.[1]);
    // Uncapped, loading the daemon's modules alone grew it to 16 MB (measured).
    assert.ok(size > 0 && size <= 4 * MB, `new space ${size / MB} MB`);
  } finally {
    await serve.close();
    scratch.cleanup();
  }
});
