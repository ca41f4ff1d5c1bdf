/**
 * Garbage H.264 on standard input (`--source -`, recording on, so the
 * recorder sees it too; that it records on is not asserted): random
 * bytes, a NAL unit over the 16 MiB cap, streams cut mid-NAL, every NAL
 * type with a random payload, broken parameter sets, long zero runs. The
 * daemon skips what it cannot read, keeps serving, publishes the good
 * video that follows, and stops cleanly (exit 0) at the end of input.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { startServe, type ServeProcess } from '../support/daemon.js';
import { repoRoot, scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';
import { rawExchange, START_TIMEOUT_MS, streamBytes } from './abuse-daemon.js';

const sample = readFileSync(join(repoRoot, 'assets', 'sample-640x360.h264'));

/** Deterministic bytes (a fixed-seed LCG): the same garbage every run. */
function pseudoRandom(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let s = seed >>> 0;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

const START = Buffer.from([0, 0, 0, 1]);

/** The garbage, in the order it is written. */
function garbage(): Array<[string, Buffer]> {
  const everyNalType = Buffer.concat(
    Array.from({ length: 64 }, (_, i) =>
      Buffer.concat([START, Buffer.from([((i & 32) << 2) | (i % 32) | 0x60]), pseudoRandom(200 + i * 37, i)]),
    ),
  );
  return [
    ['1 MiB of random bytes', pseudoRandom(1 << 20, 1)],
    ['a NAL unit over the 16 MiB cap', Buffer.concat([START, Buffer.from([0x65]), Buffer.alloc(17 << 20, 0x55)])],
    [
      'the sample cut at odd places',
      Buffer.concat([sample.subarray(0, 7777), sample.subarray(123_457, 150_001), sample.subarray(3, 20_000)]),
    ],
    ['every NAL type (and the forbidden bit) with random payloads', everyNalType],
    [
      'SPS, PPS and slices with random payloads',
      Buffer.concat([
        START,
        Buffer.from([0x67]),
        pseudoRandom(64, 7),
        START,
        Buffer.from([0x68]),
        pseudoRandom(16, 8),
        START,
        Buffer.from([0x65]),
        pseudoRandom(4096, 9),
      ]),
    ],
    [
      'an SPS claiming a huge picture',
      Buffer.concat([
        START,
        Buffer.from([0x67, 0x64, 0x00, 0x33, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        START,
        Buffer.from([0x68, 0xee, 0x3c, 0x80]),
      ]),
    ],
    ['1 MiB of zeros', Buffer.alloc(1 << 20)],
    ['start codes only', Buffer.concat(Array.from({ length: 10_000 }, () => START))],
  ];
}

describe('garbage H.264 on standard input', () => {
  const scratch = scratchDir('rearview-abuse-stdin-');
  let serve: ServeProcess | undefined;
  after(async () => {
    await serve?.close();
    scratch.cleanup();
  });

  const write = (s: ServeProcess, bytes: Buffer): Promise<void> =>
    new Promise((resolve, reject) => s.process.stdin.write(bytes, (err) => (err ? reject(err) : resolve())));

  type Status = { stream: { framesPublished: number } };
  const status = async (s: ServeProcess): Promise<Status> => {
    const r = await rawExchange(
      s.apiPort as number,
      `GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(r.status, 200);
    return JSON.parse(r.body.toString()) as Status;
  };
  const framesPublished = async (s: ServeProcess): Promise<number> => (await status(s)).stream.framesPublished;

  it('skips the garbage, keeps serving, and publishes the good video after it', async () => {
    serve = await startServe(
      [
        '--stream-port',
        '0',
        '--api-port',
        '0',
        '--no-mdns',
        '--bind',
        '127.0.0.1',
        '--source',
        '-',
        '--recordings',
        join(scratch.dir, 'recordings'),
      ],
      { waitForApi: true, rawArgs: true, timeoutMs: START_TIMEOUT_MS },
    );
    const s = serve;
    await write(s, sample);
    await waitFor(async () => (await framesPublished(s)) >= 250, 'the first sample to be published', 20_000, 50);
    for (const [name, bytes] of garbage()) {
      await write(s, bytes);
      assert.equal(s.process.exitCode, null, `after ${name}:\n${s.stderrLines.join('\n')}`);
    }
    const before = await framesPublished(s);
    await write(s, sample);
    await waitFor(
      async () => (await framesPublished(s)) >= before + 250,
      'the sample after the garbage to be published',
      20_000,
      50,
    );
    assert.ok((await streamBytes(s.streamPort, 1000, 5000)) >= 1000, 'port 5000 streams');
    const list = await rawExchange(
      s.apiPort as number,
      `GET /api/v1/recordings HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(list.status, 200);
    assert.ok(
      s.stderrLines.some((l) => /bitstream error/.test(l)),
      'the errors were counted and logged',
    );
  });

  it('stops cleanly (exit 0) at the end of standard input, with no crash in the log', async () => {
    const s = serve as ServeProcess;
    s.process.stdin.end();
    assert.equal(await s.exited, 0, s.stderrLines.join('\n'));
    assert.ok(
      !s.stderrLines.some((l) => /uncaught|unhandled|TypeError|RangeError|^\s+at /i.test(l)),
      s.stderrLines.join('\n'),
    );
  });

  it('input that is garbage from the first byte ends in a clean stop too', async () => {
    const s = await startServe(['--bind', '127.0.0.1', '--source', '-'], {
      waitForApi: true,
      timeoutMs: START_TIMEOUT_MS,
    });
    try {
      await write(s, pseudoRandom(256 * 1024, 42));
      assert.equal(s.process.exitCode, null);
      assert.equal(
        (
          await rawExchange(
            s.apiPort as number,
            `GET /battery-percent HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
          )
        ).status,
        200,
      );
      s.process.stdin.end();
      assert.equal(await s.exited, 0, s.stderrLines.join('\n'));
      assert.ok(
        !s.stderrLines.some((l) => /uncaught|unhandled|TypeError|RangeError|^\s+at /i.test(l)),
        s.stderrLines.join('\n'),
      );
    } finally {
      await s.close();
    }
  });
});
