import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode } from '../../src/errors.js';
import { describeExit, findOnPath, ProcessRunner, type ProcessExit } from '../../src/sources/process-runner.js';
import { fakeBinDir, fakeSourceClock, memoryLogger, pidAlive } from './source-fixtures.js';
import { waitFor } from '../support/wait.js';

function run(script: string, options: { clock?: ReturnType<typeof fakeSourceClock>['clock'] } = {}) {
  const { logger, lines } = memoryLogger();
  const exits: ProcessExit[] = [];
  const out: Buffer[] = [];
  const runner = new ProcessRunner({
    command: process.execPath,
    args: ['-e', script],
    logger,
    onStdout: (chunk) => out.push(chunk),
    onExit: (exit) => exits.push(exit),
    killGraceMs: 2000,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  return { runner, lines, exits, out };
}

describe('ProcessRunner', () => {
  it('logs stderr at most 20 lines a second, counts the rest, and keeps the tail for the exit message', async () => {
    // A fake clock that never moves: all 100 lines fall in one one-second window.
    const { clock } = fakeSourceClock();
    const t = run(
      "for (let i = 0; i < 100; i++) console.error('line ' + i); process.stdout.write('out'); process.exitCode = 4",
      { clock },
    );
    await t.runner.start();
    await waitFor(() => t.exits.length === 1, 'exit');
    const logged = t.lines.filter((l) => / line \d+$/.test(l));
    assert.equal(logged.length, 20);
    assert.ok(
      t.lines.some((l) => l.endsWith('(80 more stderr lines not shown)')),
      t.lines.join('\n'),
    );
    const exit = t.exits[0]!;
    assert.equal(exit.code, 4);
    assert.equal(exit.requested, false);
    assert.equal(exit.stderrTail.length, 20);
    assert.equal(exit.stderrTail.at(-1), 'line 99');
    assert.equal(describeExit('enc', exit), 'enc exited with code 4: line 99');
    assert.equal(Buffer.concat(t.out).toString(), 'out');
    await t.runner.close(); // after the exit: nothing to do, no throw
  });

  it('close() stops a running process and reports the exit as requested', async () => {
    const t = run('setInterval(() => {}, 1000)');
    await t.runner.start();
    const pid = t.runner.pid!;
    assert.ok(pidAlive(pid));
    await t.runner.close();
    assert.equal(pidAlive(pid), false);
    await waitFor(() => t.exits.length === 1, 'exit report');
    assert.equal(t.exits[0]!.requested, true);
    assert.equal(t.exits[0]!.signal, 'SIGTERM');
    assert.match(describeExit('enc', t.exits[0]!), /^enc was killed by SIGTERM/);
  });

  it('a missing program is ERR_SOURCE_SPAWN', async () => {
    const { logger } = memoryLogger();
    const runner = new ProcessRunner({
      command: 'no-such-encoder-here',
      args: [],
      logger,
      onStdout: () => undefined,
      onExit: () => undefined,
      env: { PATH: fakeBinDir },
    });
    await assert.rejects(
      runner.start(),
      (err) => hasCode(err, 'ERR_SOURCE_SPAWN') && /not found on PATH/.test((err as Error).message),
    );
    await runner.close();
  });

  it('findOnPath finds executables only', () => {
    assert.equal(findOnPath('rpicam-vid', `/nonexistent:${fakeBinDir}`), `${fakeBinDir}/rpicam-vid`);
    assert.equal(findOnPath('fake-encoder.mjs', fakeBinDir), undefined, 'not executable');
    assert.equal(findOnPath('rpicam-vid', undefined), undefined);
  });
});
