import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import { parseAnnexB } from '../../src/h264/h264-stream-parser.js';
import { ByteStreamFramer } from '../../src/sources/byte-stream-framer.js';
import { fakeSourceClock, memoryLogger, samplePath } from './source-fixtures.js';

const sample = new Uint8Array(readFileSync(samplePath));
const reference = parseAnnexB(sample).accessUnits;

/** The bytes of access unit i of the sample (start codes included). */
function auBytes(i: number): Uint8Array {
  const au = reference[i] as AccessUnit;
  return sample.subarray(au.offset, au.offset + au.byteLength);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

const AUD = Uint8Array.from([0, 0, 0, 1, 0x09, 0xf0]);

function setup(idleCloseMs: number, readBufferBytes = 65_536) {
  const { clock, fake } = fakeSourceClock();
  const { logger, lines } = memoryLogger();
  const got: Array<{ au: AccessUnit; capturedAtMs: number }> = [];
  const framer = new ByteStreamFramer({
    logger,
    clock,
    idleCloseMs,
    readBufferBytes,
    onAccessUnit: (au, capturedAtMs) => got.push({ au, capturedAtMs }),
  });
  return { framer, fake, got, lines };
}

describe('ByteStreamFramer', () => {
  it('delivers the same access units as a one-shot parse, whatever the chunking', () => {
    const { framer, got } = setup(0);
    // Irregular chunk sizes, including 1-byte chunks that split start codes.
    const sizes = [1, 2, 3, 5, 7, 4096, 11, 65_536, 13];
    let at = 0;
    for (let i = 0; at < sample.length; i++) {
      const n = sizes[i % sizes.length] as number;
      framer.push(sample.subarray(at, at + n));
      at += n;
    }
    framer.end();
    assert.equal(got.length, reference.length);
    for (let i = 0; i < got.length; i++) {
      assert.equal(got[i]!.au.byteLength, reference[i]!.byteLength, `AU ${i} size`);
      assert.equal(got[i]!.au.isKey, reference[i]!.isKey, `AU ${i} key`);
    }
  });

  it('a pause is not a frame boundary: a frame closes when the next one begins, dated by its last byte', () => {
    const { framer, fake, got } = setup(2);
    framer.push(auBytes(0));
    fake.advance(1000);
    assert.equal(got.length, 0, 'the writer may only have paused mid-frame');
    assert.equal(framer.stats.idlePauses, 1);
    framer.push(auBytes(1).subarray(0, 16)); // the next picture's first bytes
    assert.equal(got.length, 1, "the next picture's first slice header closed frame 0");
    assert.deepEqual(
      got[0]!.au.nals.map((n) => n.type),
      [7, 8, 6, 5, 5],
    );
    assert.equal(got[0]!.au.byteLength, reference[0]!.byteLength);
    assert.equal(
      got[0]!.capturedAtMs,
      1_700_000_000_000,
      'capture time is the arrival of its last byte, not the close',
    );
    assert.equal(framer.stats.midFramePauses, 0);
  });

  it('without idle close the frame waits for the next one to start', () => {
    const { framer, fake, got } = setup(0);
    framer.push(auBytes(0));
    fake.advance(1000);
    assert.equal(got.length, 0);
    framer.push(auBytes(1));
    assert.equal(got.length, 1);
  });

  it('a read that filled the read buffer does not arm the idle close', () => {
    const frame = auBytes(0);
    const { framer, fake, got } = setup(2, frame.length);
    framer.push(frame);
    fake.advance(100);
    assert.equal(got.length, 0, 'a full read means more bytes are waiting');
  });

  it('a writer pausing mid-frame does not cut the frame: the pause is counted, the frame stays whole', () => {
    const { framer, fake, got } = setup(2);
    const frame = auBytes(0);
    framer.push(frame.subarray(0, 2000));
    fake.advance(50);
    framer.push(frame.subarray(2000));
    fake.advance(50);
    assert.equal(framer.stats.midFramePauses, 1);
    framer.push(auBytes(1));
    framer.push(auBytes(2));
    assert.equal(got.length, 2);
    assert.equal(got[0]!.au.byteLength, reference[0]!.byteLength);
    assert.equal(got[1]!.au.byteLength, reference[1]!.byteLength);
  });

  it('a start code split across reads after an idle close is not premature', () => {
    const { framer, fake } = setup(2);
    framer.push(auBytes(0));
    fake.advance(2);
    const next = auBytes(1);
    framer.push(next.subarray(0, 2)); // 00 00
    framer.push(next.subarray(2));
    assert.equal(framer.stats.midFramePauses, 0);
  });

  it("closes a frame as soon as the sender's trailing AUD arrives, and never delivers a picture-less unit", () => {
    // Our own server ends every frame with an AUD (docs/protocol.md).
    const { framer, fake, got } = setup(0);
    framer.push(concat(auBytes(0), AUD));
    assert.equal(got.length, 1, 'the AUD header closed frame 0 without waiting for frame 1');
    framer.push(concat(auBytes(1), AUD));
    assert.equal(got.length, 2);
    assert.deepEqual(
      got[1]!.au.nals.map((n) => n.type),
      [9, 1, 1],
      'the AUD stays in front of the next picture',
    );
    fake.advance(10);
    assert.ok(
      got.every((g) => g.au.nals.some((n) => n.type === 1 || n.type === 5)),
      'every delivered unit has a picture',
    );
  });

  it('parameter sets written separately from their IDR still arrive with it', () => {
    // An encoder may write SPS/PPS in one write and the picture in the next, with a pause between.
    const { framer, fake, got } = setup(2);
    const frame = auBytes(0);
    const idr = reference[0]!.nals.find((n) => n.type === 5)!;
    const split = idr.offset - reference[0]!.offset;
    framer.push(frame.subarray(0, split));
    fake.advance(2);
    assert.equal(got.length, 0, 'a unit without a picture is held back');
    framer.push(frame.subarray(split));
    fake.advance(2);
    framer.end();
    assert.equal(got.length, 1);
    assert.deepEqual(
      got[0]!.au.nals.map((n) => n.type),
      [7, 8, 6, 5, 5],
    );
    assert.equal(got[0]!.au.isKey, true);
    assert.equal(got[0]!.au.byteLength, reference[0]!.byteLength);
  });

  it('end() delivers the last frame; close() drops it', () => {
    const a = setup(0);
    a.framer.push(auBytes(0));
    a.framer.end();
    assert.equal(a.got.length, 1);
    const b = setup(2);
    b.framer.push(auBytes(0));
    b.framer.close();
    b.fake.advance(10);
    assert.equal(b.got.length, 0);
    assert.equal(b.fake.pending, 0, 'no timer left behind');
  });
});
