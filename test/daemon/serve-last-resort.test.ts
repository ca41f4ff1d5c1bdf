/**
 * `rearview serve`'s last-resort handler: an exception nobody catches (the
 * F1 crash was one missing 'error' listener) used to kill the process on
 * the spot, skipping close(): detached encoder process groups kept running
 * and the current segment was never finished. A preload module injects
 * such a fault once serve is up; serve must log one line, close the daemon
 * (the segment being written is finished and playable) and exit 1.
 */
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { startServe } from '../support/daemon.js';
import { scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';

const scratch = scratchDir('rearview-fatal-');
after(() => scratch.cleanup());

describe('rearview serve last-resort handler', () => {
  it('an uncaught exception closes the daemon (segment finished) and exits 1', async () => {
    const recordings = join(scratch.dir, 'rec');
    const trigger = join(scratch.dir, 'fault-now');
    // Throws from a timer callback (an uncaught exception) once the test creates `trigger`.
    const preload = join(scratch.dir, 'inject-fault.mjs');
    writeFileSync(
      preload,
      `import { existsSync } from 'node:fs';\n` +
        `const t = setInterval(() => { if (existsSync(${JSON.stringify(trigger)})) { clearInterval(t); throw new Error('injected fault'); } }, 20);\n` +
        `t.unref();\n`,
    );
    const serve = await startServe(
      ['--stream-port', '0', '--api-port', '0', '--no-mdns', '--bind', '127.0.0.1', '--recordings', recordings],
      {
        rawArgs: true,
        env: { ...process.env, NODE_OPTIONS: `--import ${pathToFileURL(preload).href}` },
      },
    );
    try {
      await waitFor(() => readdirSync(recordings).some((n) => /^log\d{4}\.mkv$/.test(n)), 'a segment being written');
      writeFileSync(trigger, '');
      assert.equal(await serve.exited, 1, serve.stderrLines.join('\n'));
      const fatalLines = serve.stderrLines.filter((l) => l.includes('uncaught exception: injected fault'));
      assert.equal(fatalLines.length, 1, serve.stderrLines.join('\n'));
      assert.ok(!readdirSync(recordings).some((n) => n.endsWith('.part')), readdirSync(recordings).join(' '));
    } finally {
      await serve.close();
    }
  });
});
