/**
 * Encoders run in their own process group (detached), so they do not die
 * with the daemon. Regression: a daemon process that exited without close()
 * (a crash, or serve's last-resort handler giving up on a slow close) left
 * the encoder group running, holding the camera. Now an 'exit' hook SIGKILLs
 * every group still live. A child Node process starts a runner (`sleep 60`
 * in a shell, so the group has a helper) and exits without close().
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { repoRoot, scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';

const scratch = scratchDir('rearview-runner-exit-');
after(() => scratch.cleanup());

/**
 * True while a member of the process group is still running. Zombies do not
 * count: orphans are reparented to PID 1, which in some containers never reaps
 * them, and kill(-pgid, 0) would keep succeeding for a group that is dead.
 */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  // /proc/<pid>/stat: "pid (comm) state ppid pgrp ...": fields after the last ')'.
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') return true;
  }
  return false;
}

describe('ProcessRunner exit hook', () => {
  it('kills the encoder process group when the process exits without close()', async () => {
    const runnerUrl = pathToFileURL(join(repoRoot, 'dist', 'src', 'sources', 'process-runner.js')).href;
    const loggerUrl = pathToFileURL(join(repoRoot, 'dist', 'src', 'log', 'logger.js')).href;
    const script = join(scratch.dir, 'run.mjs');
    writeFileSync(
      script,
      `import { ProcessRunner } from ${JSON.stringify(runnerUrl)};\n` +
        `import { silentLogger } from ${JSON.stringify(loggerUrl)};\n` +
        `const r = new ProcessRunner({ command: 'sh', args: ['-c', 'sleep 60 & sleep 60'], logger: silentLogger, onStdout: () => {}, onExit: () => {} });\n` +
        `await r.start();\n` +
        `console.log(r.pid);\n` +
        `process.exitCode = 1;\n` +
        `setImmediate(() => process.exit(1));\n`,
    );
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = await new Promise<number>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', (l) => resolve(Number(l)));
      child.once('error', reject);
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    assert.equal(code, 1);
    assert.ok(pid > 0);
    // SIGKILL is sent synchronously in the hook; the kernel tears the group down right after.
    await waitFor(() => !groupAlive(pid), `process group ${pid} to end with its parent`, 5000, 20).catch(
      (err: unknown) => {
        process.kill(-pid, 'SIGKILL'); // never leave the group behind, even when the test fails
        throw err;
      },
    );
  });
});
