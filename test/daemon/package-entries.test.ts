/**
 * Regression test: `import 'rearview'` failed (ERR_MODULE_NOT_FOUND)
 * because package.json's exports["."] pointed at dist/src/index.js, which
 * did not exist. The three entry points are imported by package
 * self-reference, as an app that depends on rearview would.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../support/paths.js';

describe('package entry points', () => {
  it('rearview, rearview/h264 and rearview/client import and export their main parts', async () => {
    const main = await import('rearview');
    assert.equal(typeof main.RearviewDaemon, 'function');
    assert.equal(typeof main.StreamHub, 'function');
    assert.equal(typeof main.loadConfig, 'function');
    assert.equal(typeof main.defaultConfig().streamPort, 'number');
    assert.ok(new main.ConfigError('x') instanceof main.RearviewError);
    assert.equal(typeof main.h264.parseAnnexB, 'function');
    assert.equal(typeof main.client.connect, 'function');
    const h264 = await import('rearview/h264');
    assert.equal(h264.parseAnnexB, main.h264.parseAnnexB);
    const client = await import('rearview/client');
    assert.equal(client.CameraClient, main.client.CameraClient);
  });

  it("the built bin file is executable on its own (npx keeps its link to a folder; a new clone there runs the file's own mode)", () => {
    const { bin } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    const file = join(repoRoot, bin.rearview as string);
    assert.equal(statSync(file).mode & 0o111, 0o111, `${file} is not executable`);
    const run = spawnSync(file, ['--version'], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^\d+\.\d+\.\d+/);
  });
});
