/**
 * The camera options (--camera, --timeout, --token) of `rearview videos`
 * work before and after the subcommand. Round 1 accepted them only after it:
 * `rearview videos --camera X list` failed with "unknown option". Runs the
 * real CLI against a real daemon (API token set) and tells the positions
 * apart by their effect: a wrong camera (a closed port) exits 4, a missing
 * token exits 6, a bad timeout exits 2.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startDaemonInProcess, type InProcessDaemon } from '../support/daemon.js';
import { scratchDir } from '../support/paths.js';
import { runCli } from './cli-run.js';

/** A port nothing listens on (bound then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

describe('rearview videos: camera options before and after the subcommand', () => {
  const scratch = scratchDir('rearview-cli-positions-');
  let daemon: InProcessDaemon;
  let good = '';
  let bad = '';
  const env = { REARVIEW_CAMERA: '', REARVIEW_TOKEN: '' };

  before(async () => {
    daemon = await startDaemonInProcess({ recordingsDir: scratch.dir, deviceBackend: 'simulated', apiToken: 'secret' });
    good = `127.0.0.1:${daemon.daemon.apiAddress!.port}`;
    bad = `127.0.0.1:${await closedPort()}`;
  });
  after(async () => {
    await daemon?.close();
    scratch.cleanup();
  });

  it('takes --camera and --token before the subcommand', async () => {
    const r = await runCli(['videos', '--camera', good, '--token', 'secret', 'list', '--json'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), []);
  });

  it('takes them after the subcommand, and mixed', async () => {
    const after = await runCli(['videos', 'list', '--camera', good, '--token', 'secret', '--json'], { env });
    assert.equal(after.code, 0, after.stderr);
    const mixed = await runCli(['videos', '--token', 'secret', 'list', '-c', good, '--json'], { env });
    assert.equal(mixed.code, 0, mixed.stderr);
    assert.deepEqual(JSON.parse(mixed.stdout), []);
  });

  it('a value after the subcommand wins over one before it', async () => {
    const wins = await runCli(['videos', '--camera', bad, '--token', 'secret', 'list', '--camera', good, '--json'], {
      env,
    });
    assert.equal(wins.code, 0, wins.stderr);
    const loses = await runCli(
      ['videos', '--camera', good, '--token', 'secret', 'list', '--camera', bad, '--timeout', '3s'],
      { env },
    );
    assert.equal(loses.code, 4, loses.stderr);
    assert.equal(loses.stderr.trim().split('\n').length, 1, 'one-line error');
  });

  it('the token and timeout given before the subcommand are used', async () => {
    const noToken = await runCli(['videos', '--camera', good, 'list'], { env });
    assert.equal(noToken.code, 6, `a missing token is an HTTP error: ${noToken.stderr}`);
    const badTimeout = await runCli(['videos', '--camera', good, '--timeout', 'soon', 'sync', scratch.dir], { env });
    assert.equal(badTimeout.code, 2, badTimeout.stderr);
  });
});
