/**
 * Capture-time SEI: exact round trip (including times whose bytes need
 * emulation prevention), FFmpeg's own SEI parser reading what we write, and
 * the Python reader published in docs/protocol.md reading it too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  captureTimeOf,
  buildCaptureTimeSei,
  CAPTURE_TIME_SEI_UUID,
  CAPTURE_TIME_SEI_UUID_TEXT,
  isCaptureTimeSei,
  readCaptureTimeSei,
} from '../../src/h264/capture-time-sei.js';
import { splitAnnexB } from '../../src/h264/annexb-scanner.js';
import { nalsToAnnexB } from '../../src/h264/avcc.js';
import { corpusFile, repoRoot, scratchDir } from '../support/paths.js';
import { requireTool } from '../support/tools.js';

/** Times chosen to exercise emulation prevention: runs of zero bytes followed by 0..3. */
const TIMES_MS = [
  0,
  0.001,
  0.003,
  1,
  4294967.296, // 2^32 us: 00 00 00 01 00 00 00 00
  281474976710.656, // 2^48 us
  1732489200000.001,
  1795561818587.123,
  65536.001, // 00 00 00 00 03 e8 00 01 -> escapes inside
  Number.MAX_SAFE_INTEGER / 1000,
];

test('build/read round-trips to the microsecond, including escaped time bytes', () => {
  for (const ms of TIMES_MS) {
    const nal = buildCaptureTimeSei(ms);
    assert.equal(nal[0], 0x06);
    assert.equal(nal[nal.length - 1], 0x80, 'ends with rbsp_trailing_bits');
    assert.ok(isCaptureTimeSei(nal));
    const back = readCaptureTimeSei(nal);
    assert.ok(back !== undefined);
    assert.equal(Math.round(back * 1000), Math.round(ms * 1000), `time ${ms}`);
    // No start-code emulation: the NAL survives Annex-B framing byte for byte.
    const found = splitAnnexB(nalsToAnnexB([nal]));
    assert.equal(found.length, 1);
    assert.deepEqual([...found[0]!.data], [...nal]);
  }
  assert.equal(buildCaptureTimeSei(1732489200000).length, 28, 'no escaping needed: 28 bytes');
});

test('the UUID constant and its documented text agree', () => {
  const hex = Buffer.from(CAPTURE_TIME_SEI_UUID).toString('hex');
  assert.equal(CAPTURE_TIME_SEI_UUID_TEXT.replaceAll('-', ''), hex);
  assert.ok(!CAPTURE_TIME_SEI_UUID.includes(0), 'no zero byte, so the prefix never needs escaping');
  const doc = readFileSync(join(repoRoot, 'docs', 'protocol.md'), 'utf8');
  assert.ok(doc.includes(CAPTURE_TIME_SEI_UUID_TEXT), 'docs/protocol.md states the UUID');
});

test('non-capture-time NAL units read as undefined and bad input never throws', () => {
  const nal = buildCaptureTimeSei(1234.5);
  assert.equal(readCaptureTimeSei(Uint8Array.from([0x65, 0x88])), undefined);
  assert.equal(readCaptureTimeSei(new Uint8Array(0)), undefined);
  const otherUuid = nal.slice();
  otherUuid[10] = (otherUuid[10] ?? 0) ^ 1;
  assert.equal(isCaptureTimeSei(otherUuid), false);
  assert.equal(readCaptureTimeSei(otherUuid), undefined);
  for (let cut = 0; cut < nal.length - 1; cut++) {
    assert.equal(readCaptureTimeSei(nal.subarray(0, cut)), undefined, `truncated to ${cut}`);
  }
  assert.throws(() => buildCaptureTimeSei(-1), RangeError);
  assert.throws(() => buildCaptureTimeSei(Number.NaN), RangeError);
});

test("FFmpeg's SEI parser (trace_headers) reads the UUID and the microsecond time we wrote", () => {
  const ffmpeg = requireTool('ffmpeg');
  const { dir, cleanup } = scratchDir();
  try {
    // blackframe.264 is SPS, PPS, IDR: repeat it with a different capture-time SEI before each IDR.
    const [sps, pps, idr] = splitAnnexB(readFileSync(corpusFile('blackframe.264'))).map((n) => n.data);
    assert.ok(sps && pps && idr);
    const nals: Uint8Array[] = [];
    for (const ms of TIMES_MS) nals.push(sps, pps, buildCaptureTimeSei(ms), idr);
    const file = join(dir, 'sei.h264');
    writeFileSync(file, nalsToAnnexB(nals));
    const r = spawnSync(
      ffmpeg,
      ['-hide_banner', '-f', 'h264', '-i', file, '-c', 'copy', '-bsf:v', 'trace_headers', '-f', 'null', '-'],
      {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    assert.equal(r.status, 0, r.stderr.slice(-2000));
    const uuids: number[] = [];
    const data: number[] = [];
    for (const line of r.stderr.split('\n')) {
      const m = /(uuid_iso_iec_11578|user_data_payload_byte)\[\d+\]\s+[01]+ = (\d+)/.exec(line);
      if (m) (m[1] === 'uuid_iso_iec_11578' ? uuids : data).push(Number(m[2]));
    }
    assert.equal(data.length, TIMES_MS.length * 8, 'FFmpeg saw 8 user-data bytes per SEI');
    for (let i = 0; i < TIMES_MS.length; i++) {
      assert.deepEqual(uuids.slice(i * 16, i * 16 + 16), [...CAPTURE_TIME_SEI_UUID]);
      let us = 0n;
      for (const b of data.slice(i * 8, i * 8 + 8)) us = (us << 8n) | BigInt(b);
      assert.equal(us, BigInt(Math.round(TIMES_MS[i]! * 1000)), `time ${TIMES_MS[i]}`);
    }
  } finally {
    cleanup();
  }
});

test('the Python reader published in docs/protocol.md reads what we write', () => {
  const python = requireTool('python3');
  const doc = readFileSync(join(repoRoot, 'docs', 'protocol.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Capture-time SEI'));
  const code = /```python\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code, 'docs/protocol.md has a Python reader in the capture-time section');
  const nals = TIMES_MS.map((ms) => Buffer.from(buildCaptureTimeSei(ms)).toString('hex'));
  const script = `${code}\nimport sys, json\nprint(json.dumps([capture_time_ms(bytes.fromhex(h)) for h in sys.argv[1:]]))\n`;
  const r = spawnSync(python, ['-c', script, ...nals], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const values = JSON.parse(r.stdout) as number[];
  assert.deepEqual(
    values.map((v) => Math.round(v * 1000)),
    TIMES_MS.map((ms) => Math.round(ms * 1000)),
  );
});

test('captureTimeOf finds our stamp after the encoder SEI and applies the caller skew limit', () => {
  // The encoder's own SEI (a user_data_unregistered with another UUID) comes first.
  const encoderSei = Uint8Array.of(0x06, 0x05, 0x11, ...new Array<number>(16).fill(0x11), 0x41, 0x80);
  const ours = buildCaptureTimeSei(1_700_000_000_000);
  const nals = [
    { type: 7, data: Uint8Array.of(0x67, 0x42) },
    { type: 6, data: encoderSei },
    { type: 6, data: ours },
    { type: 5, data: Uint8Array.of(0x65, 0x88) },
  ];
  assert.deepEqual(captureTimeOf(nals, 1_700_000_001_000, 2000), {
    index: 2,
    stampedAtMs: 1_700_000_000_000,
    trusted: true,
  });
  assert.equal(captureTimeOf(nals, 1_700_000_003_000, 2000)?.trusted, false);
  assert.equal(captureTimeOf(nals, 0, Number.POSITIVE_INFINITY)?.trusted, true);
  assert.equal(captureTimeOf([nals[0]!, nals[1]!, nals[3]!], 0, 2000), undefined);
});
