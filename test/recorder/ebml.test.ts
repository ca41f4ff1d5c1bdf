/**
 * The EBML primitives on their own: vints of every length (1-8 bytes),
 * unknown sizes, headers cut at every byte or malformed, children of a
 * master element in memory, and the buffered file reader at chunk
 * boundaries, at the end of the file and at a size limit short of it.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  decodeElementHead,
  EbmlFileReader,
  EbmlId,
  encodeElement,
  encodeSize,
  encodeUint,
  forEachChild,
  MAX_HEAD_BYTES,
  readUint,
  vintLength,
  vintValue,
} from '../../src/recorder/ebml.js';
import { scratchDir } from '../support/paths.js';

const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));

test('vint length follows the leading zero bits, 1 to 8 bytes; 0x00 is not a vint', () => {
  for (let length = 1; length <= 8; length++) {
    const marker = 0x100 >> length;
    assert.equal(vintLength(marker), length, `marker ${marker.toString(16)}`);
    assert.equal(vintLength(marker | (marker - 1)), length, 'value bits do not change the length');
  }
  assert.equal(vintLength(0x00), 0);
});

test('sizes of 1 to 8 bytes round-trip through encodeSize and the decoder, the largest of each length too', () => {
  const values = [
    0,
    1,
    126,
    127,
    200,
    16382,
    16383,
    2 ** 21 - 2,
    2 ** 21,
    2 ** 28 - 2,
    2 ** 35 - 2,
    2 ** 42 - 2,
    2 ** 49 - 2,
    2 ** 49,
    Number.MAX_SAFE_INTEGER,
  ];
  const lengths = [1, 1, 1, 2, 2, 2, 3, 3, 4, 4, 5, 6, 7, 8, 8];
  values.forEach((value, i) => {
    const bytes = encodeSize(value);
    assert.equal(bytes.length, lengths[i], `${value} takes ${lengths[i]} byte(s)`);
    assert.equal(vintLength(bytes[0] as number), bytes.length);
    assert.equal(vintValue(bytes, 0, bytes.length), value);
  });
  assert.throws(() => encodeSize(2 ** 56), RangeError);
});

test('a size with every value bit set is unknown (-1) at every length; one bit less is a plain size', () => {
  for (let length = 1; length <= 8; length++) {
    const unknown = new Uint8Array(length).fill(0xff);
    unknown[0] = (0x100 >> length) | (0xff >> length);
    assert.equal(vintValue(unknown, 0, length), -1, `${length}-byte unknown size`);
    const known = Uint8Array.from(unknown);
    known[length - 1] = 0xfe;
    assert.notEqual(vintValue(known, 0, length), -1, `${length}-byte known size`);
  }
  // A Cluster of unknown size, as a live writer starts one.
  const head = decodeElementHead(
    Uint8Array.from([0x1f, 0x43, 0xb6, 0x75, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    0,
    12,
  );
  assert.deepEqual(head, { id: EbmlId.Cluster, size: -1, offset: 0, dataOffset: 12 });
});

test('element headers: IDs of 1-4 bytes with their marker bits, offsets in the file', () => {
  for (const id of [EbmlId.SimpleBlock, EbmlId.Duration, EbmlId.TimestampScale, EbmlId.Cluster]) {
    const el = encodeElement(id, new Uint8Array(300));
    const b = concat(Uint8Array.of(0, 0, 0), el);
    const head = decodeElementHead(b, 3, b.length, 1000);
    assert.deepEqual(head, { id, size: 300, offset: 1000, dataOffset: 1000 + el.length - 300 });
  }
});

test('a header cut at any byte, an ID longer than 4 bytes or a 0x00 size byte answers undefined', () => {
  const el = encodeElement(EbmlId.Cluster, new Uint8Array(2 ** 22)); // 4-byte ID, 4-byte size
  const headLength = 8;
  for (let end = 0; end < headLength; end++)
    assert.equal(decodeElementHead(el, 0, end), undefined, `cut after ${end} byte(s)`);
  assert.ok(decodeElementHead(el, 0, headLength));
  assert.equal(decodeElementHead(Uint8Array.of(0x08, 0, 0, 0, 0, 0x81), 0, 6), undefined, '5-byte ID');
  assert.equal(decodeElementHead(Uint8Array.of(0x00, 0x81), 0, 2), undefined, 'ID starting 0x00');
  assert.equal(
    decodeElementHead(Uint8Array.of(0xa3, 0x00, 0, 0, 0, 0, 0, 0, 0, 1), 0, 10),
    undefined,
    'size starting 0x00',
  );
  assert.equal(MAX_HEAD_BYTES, 12);
});

test('uints: big-endian, any length up to 8 bytes, from an offset', () => {
  assert.equal(readUint(Uint8Array.of()), 0);
  assert.equal(readUint(encodeUint(1_000_000)), 1_000_000);
  assert.equal(readUint(encodeUint(0)), 0);
  assert.equal(encodeUint(0).length, 1);
  assert.equal(readUint(Uint8Array.of(9, 0x01, 0x02, 9), 1, 2), 0x0102);
  assert.equal(readUint(encodeUint(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
});

test('children of a master element in memory: visited in order; a child running past the body, malformed or of unknown size stops the walk', () => {
  const a = encodeElement(EbmlId.PixelWidth, encodeUint(1280));
  const b = encodeElement(EbmlId.PixelHeight, encodeUint(720));
  const seen: [number, number][] = [];
  assert.equal(
    forEachChild(concat(a, b), (id, data) => seen.push([id, readUint(data)])),
    true,
  );
  assert.deepEqual(seen, [
    [EbmlId.PixelWidth, 1280],
    [EbmlId.PixelHeight, 720],
  ]);

  const visited: number[] = [];
  const visit = (id: number): void => void visited.push(id);
  assert.equal(forEachChild(concat(a, b.subarray(0, b.length - 1)), visit), false, 'last child cut');
  assert.equal(forEachChild(concat(a, Uint8Array.of(0xb0)), visit), false, 'header cut');
  assert.equal(forEachChild(concat(a, Uint8Array.of(0xb0, 0xff, 1)), visit), false, 'unknown size');
  assert.deepEqual(
    visited,
    [EbmlId.PixelWidth, EbmlId.PixelWidth, EbmlId.PixelWidth],
    'the children before the bad one were visited',
  );
  assert.equal(forEachChild(new Uint8Array(0), visit), true);
  // Buffer in, Buffer views out (the reader decodes CodecID with toString).
  forEachChild(Buffer.from(encodeElement(EbmlId.CodecID, Buffer.from('V_MPEG4/ISO/AVC'))), (_id, data) =>
    assert.equal(data.toString('latin1'), 'V_MPEG4/ISO/AVC'),
  );
});

test('file reader: a front-to-back walk across chunk boundaries, the end of the file and a size limit', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    // Elements of growing bodies (0..199 bytes, one a 2-byte size), then a header cut after its ID.
    const elements = Array.from({ length: 200 }, (_, i) =>
      encodeElement(EbmlId.SimpleBlock, new Uint8Array(i).fill(i)),
    );
    const whole = concat(...elements);
    const path = join(dir, 'walk.mkv');
    writeFileSync(path, concat(whole, Uint8Array.of(0x1f, 0x43, 0xb6, 0x75)));
    const fh = await open(path, 'r');
    try {
      const size = whole.length + 4;
      for (const chunkBytes of [16, 100, 64 * 1024]) {
        const r = new EbmlFileReader(fh, size, chunkBytes);
        let pos = 0;
        for (let i = 0; i < elements.length; i++) {
          const head = await r.head(pos);
          assert.ok(head, `element ${i} (chunk ${chunkBytes})`);
          assert.equal(head.id, EbmlId.SimpleBlock);
          assert.equal(head.size, i);
          const at = await r.ensure(head.dataOffset, head.size); // larger than a 16-byte chunk: the buffer grows
          assert.ok(at >= 0);
          assert.ok(
            r.bytes.subarray(at, at + head.size).every((x) => x === i % 256),
            `body of element ${i}`,
          );
          pos = head.dataOffset + head.size;
        }
        assert.equal(pos, whole.length);
        assert.equal(await r.head(pos), undefined, 'header cut by the end of the file');
        assert.equal(await r.head(size), undefined, 'at the end of the file');
        assert.equal((await r.read(size - 2, 10)).length, 2, 'read: fewer bytes at the end');
        assert.equal(await r.ensure(size - 2, 3), -1, 'ensure: past the end');
      }
      // Limited to the first 10 elements and 1 byte of the 11th: the 11th header is cut by the limit although the file goes on.
      const limit = elements.slice(0, 10).reduce((n, e) => n + e.length, 0) + 1;
      const r = new EbmlFileReader(fh, limit, 16);
      assert.equal(await r.head(limit - 1), undefined);
      assert.equal((await r.read(limit - 1, 100)).length, 1);
      assert.equal(await r.ensure(0, limit + 1), -1);
      // Backwards after a forward read: the buffer starts again at the earlier position.
      assert.equal((await r.head(limit - 1 - elements[9]!.length))?.size, 9);
      assert.equal((await r.head(0))?.size, 0);
    } finally {
      await fh.close();
    }
  } finally {
    cleanup();
  }
});
