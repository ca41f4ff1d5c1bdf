/**
 * SEI message iteration (0xFF continuation of type and size, truncation
 * checks) and user_data_unregistered building/reading, against real SEI NAL
 * units from the corpus (x264 version string, buffering period + picture
 * timing) and FFmpeg's SEI parser.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildUserDataUnregisteredSei,
  iterateSeiMessages,
  readUserDataUnregistered,
  uuidToText,
  type SeiMessage,
} from '../../src/h264/sei.js';
import { buildCaptureTimeSei, CAPTURE_TIME_SEI_UUID, readCaptureTimeSei } from '../../src/h264/capture-time-sei.js';
import { nalToRbsp, rbspToNal } from '../../src/h264/rbsp.js';
import { splitAnnexB } from '../../src/h264/annexb-scanner.js';
import { nalsToAnnexB } from '../../src/h264/avcc.js';
import { H264Error, hasCode } from '../../src/errors.js';
import { corpusFile, scratchDir } from '../support/paths.js';
import { requireTool } from '../support/tools.js';

function messagesOf(nal: Uint8Array): SeiMessage[] {
  return [...iterateSeiMessages(nalToRbsp(nal.subarray(1)))];
}

const UUID = Uint8Array.from({ length: 16 }, (_, i) => 0x10 + i);

test("x264's user-data SEI in a corpus file: UUID and version text", () => {
  const sei = splitAnnexB(readFileSync(corpusFile('test_640x360.h264'))).find((n) => n.type === 6);
  assert.ok(sei);
  const [message, ...rest] = messagesOf(sei.data);
  assert.equal(rest.length, 0);
  assert.ok(message);
  assert.equal(message.payloadType, 5);
  assert.ok(message.payloadSize > 255, 'x264 writes a size with 0xFF continuation bytes');
  const { uuid, data } = readUserDataUnregistered(message);
  // x264's registered UUID.
  assert.equal(uuidToText(uuid), 'dc45e9bd-e6d9-48b7-962c-d820d923eeef');
  assert.match(Buffer.from(data).toString('latin1'), /^x264 - core \d+/);
});

test('buffering period and picture timing messages of 4pics.264 (payload types 0 and 1)', () => {
  const seis = splitAnnexB(readFileSync(corpusFile('4pics.264'))).filter((n) => n.type === 6);
  assert.ok(seis.length >= 2);
  assert.deepEqual(
    messagesOf(seis[0]!.data).map((m) => m.payloadType),
    [0, 1],
  );
  for (const sei of seis) for (const m of messagesOf(sei.data)) assert.equal(m.payload.length, m.payloadSize);
});

test('0xFF continuation round-trips for sizes around 255 and large payloads', () => {
  for (const size of [0, 1, 238, 239, 240, 254, 255, 256, 509, 510, 511, 5000]) {
    const payload = Uint8Array.from({ length: size }, (_, i) => (i * 7) & 0xff);
    const nal = buildUserDataUnregisteredSei(UUID, payload);
    assert.equal(nal[0], 0x06);
    const messages = messagesOf(nal);
    assert.equal(messages.length, 1, `size ${size}`);
    assert.equal(messages[0]!.payloadSize, 16 + size);
    const { uuid, data } = readUserDataUnregistered(messages[0]!);
    assert.deepEqual([...uuid], [...UUID]);
    assert.deepEqual([...data], [...payload]);
    // Annex-B safe: emulation prevention applied.
    assert.deepEqual([...splitAnnexB(nalsToAnnexB([nal]))[0]!.data], [...nal]);
  }
});

test('payloads that need emulation prevention and a large payload type', () => {
  const zeros = new Uint8Array(40); // 00 00 00 ... needs 03 bytes
  const nal = buildUserDataUnregisteredSei(UUID, zeros);
  assert.ok(nal.length > 1 + 1 + 1 + 16 + 40 + 1, 'emulation-prevention bytes were inserted');
  assert.deepEqual([...readUserDataUnregistered(messagesOf(nal)[0]!).data], [...zeros]);
  // payloadType 300 = FF 2D, size 2, then trailing bits.
  const rbsp = Uint8Array.from([0xff, 0x2d, 0x02, 0xaa, 0xbb, 0x80]);
  const [m] = [...iterateSeiMessages(rbsp)];
  assert.equal(m?.payloadType, 300);
  assert.deepEqual([...(m?.payload ?? [])], [0xaa, 0xbb]);
});

test('truncated and malformed SEI raise typed H264Errors only', () => {
  const rbsp = nalToRbsp(buildUserDataUnregisteredSei(UUID, Uint8Array.from([1, 2, 3])).subarray(1));
  for (let cut = 1; cut < rbsp.length - 1; cut++) {
    assert.throws(
      () => [...iterateSeiMessages(rbsp.subarray(0, cut))],
      (e) => hasCode(e, 'ERR_H264_TRUNCATED'),
      `cut at ${cut}`,
    );
  }
  assert.throws(
    () => [...iterateSeiMessages(Uint8Array.from([0xff, 0xff]))],
    (e) => hasCode(e, 'ERR_H264_TRUNCATED'),
  );
  assert.deepEqual([...iterateSeiMessages(new Uint8Array(0))], []);
  assert.deepEqual([...iterateSeiMessages(Uint8Array.from([0x80, 0, 0]))], [], 'only trailing bits');
  assert.throws(
    () => readUserDataUnregistered({ payloadType: 4, payloadSize: 20, payload: new Uint8Array(20) }),
    (e) => hasCode(e, 'ERR_H264_INVALID'),
  );
  assert.throws(
    () => readUserDataUnregistered({ payloadType: 5, payloadSize: 3, payload: new Uint8Array(3) }),
    (e) => hasCode(e, 'ERR_H264_TRUNCATED'),
  );
  assert.throws(() => buildUserDataUnregisteredSei(new Uint8Array(15), new Uint8Array(0)), RangeError);
  // Random bytes never raise anything but H264Error.
  let seed = 12345;
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed & 0xff;
  };
  for (let i = 0; i < 2000; i++) {
    const bytes = Uint8Array.from({ length: 1 + (i % 40) }, rand);
    try {
      for (const m of iterateSeiMessages(bytes)) assert.ok(m.payload.length === m.payloadSize);
    } catch (err) {
      assert.ok(err instanceof H264Error, String(err));
    }
  }
});

test('a capture-time message after another message in the same SEI NAL is found (slow path)', () => {
  const own = nalToRbsp(buildCaptureTimeSei(1732489200123.456).subarray(1));
  // A recovery-point message (type 6, size 1) first, then ours (without its trailing bits byte).
  const rbsp = Uint8Array.from([6, 1, 0x88, ...own]);
  const nal = Uint8Array.from([0x06, ...rbspToNal(rbsp)]);
  assert.equal(readCaptureTimeSei(nal), 1732489200123.456);
  const other = buildUserDataUnregisteredSei(UUID, new Uint8Array(8));
  assert.equal(readCaptureTimeSei(other), undefined);
  assert.deepEqual(
    [...readUserDataUnregistered(messagesOf(buildCaptureTimeSei(5))[0]!).uuid],
    [...CAPTURE_TIME_SEI_UUID],
  );
});

test("FFmpeg's SEI parser reads a built user_data_unregistered with a 300-byte payload", () => {
  const ffmpeg = requireTool('ffmpeg');
  const { dir, cleanup } = scratchDir();
  try {
    const [sps, pps, idr] = splitAnnexB(readFileSync(corpusFile('blackframe.264'))).map((n) => n.data);
    assert.ok(sps && pps && idr);
    const payload = Uint8Array.from({ length: 300 }, (_, i) => (i % 5 === 0 ? 0 : i & 0xff));
    const file = join(dir, 'sei.h264');
    writeFileSync(file, nalsToAnnexB([sps, pps, buildUserDataUnregisteredSei(UUID, payload), idr]));
    const r = spawnSync(
      ffmpeg,
      ['-hide_banner', '-f', 'h264', '-i', file, '-c', 'copy', '-bsf:v', 'trace_headers', '-f', 'null', '-'],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr.slice(-2000));
    const data = [...r.stderr.matchAll(/user_data_payload_byte\[\d+\]\s+[01]+ = (\d+)/g)].map((m) => Number(m[1]));
    assert.deepEqual(data, [...payload]);
  } finally {
    cleanup();
  }
});
