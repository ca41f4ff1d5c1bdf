/**
 * openByteSource on files: a regular file is read with synchronous reads
 * into one reused buffer. Whatever the read size, the chunks put together
 * are the file, and the parser fed those reused chunks (reusesChunks) finds
 * the same NAL units and access units as in the whole file at once; the
 * event loop still gets turns during a long read; an abort stops it; a
 * device is read too.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FILE_CHUNK_BYTES, FILE_TURN_MS, openByteSource } from '../../src/cli/byte-source.js';
import { H264StreamParser, parseAnnexB } from '../../src/h264/h264-stream-parser.js';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import type { NalUnit } from '../../src/h264/nal-unit.js';
import { corpusFile, scratchDir } from '../support/paths.js';

const digest = (bytes: Uint8Array): string => createHash('sha1').update(bytes).digest('hex');
/** What a NAL unit or access unit is, in plain data (its bytes by digest: they may be views into a reused buffer). */
const nalFacts = (n: NalUnit): string => `${n.offset}/${n.startCodeLength}/${n.type}/${n.refIdc}/${digest(n.data)}`;
const auFacts = (au: AccessUnit): string =>
  `${au.offset}+${au.byteLength} key=${au.isKey} poc=${au.poc} ${au.structure} [${au.sliceTypes}] ${au.nals.map(nalFacts).join(' ')}`;

async function parseFile(
  path: string,
  fileChunkBytes: number,
): Promise<{ bytes: Uint8Array; nals: string[]; aus: string[] }> {
  const source = openByteSource(path, { fileChunkBytes });
  assert.equal(source.reusesChunks, true);
  assert.equal(source.live, false);
  const nals: string[] = [];
  const aus: string[] = [];
  const parser = new H264StreamParser({
    onNal: (n) => nals.push(nalFacts(n)),
    onAccessUnit: (au) => aus.push(auFacts(au)),
    reusesChunks: true,
  });
  const parts: Uint8Array[] = [];
  for await (const chunk of source) {
    assert.ok(chunk.length > 0 && chunk.length <= fileChunkBytes, `chunk of ${chunk.length} bytes`);
    parts.push(new Uint8Array(chunk));
    parser.push(chunk);
  }
  parser.flush();
  return { bytes: Buffer.concat(parts), nals, aus };
}

test('read sizes from 1 byte to FILE_CHUNK_BYTES give the file and the one-piece parse', async () => {
  for (const name of ['Static.264', 'CVFI1_SVA_C.264', 'MIDR_MW_D.264', 'input-sps-pps-non-idr-sps-pps-idr.h264']) {
    const path = corpusFile(name);
    const whole = readFileSync(path);
    const expected = parseAnnexB(whole);
    const nals = expected.nals.map(nalFacts);
    const aus = expected.accessUnits.map(auFacts);
    for (const size of name === 'Static.264'
      ? [1, 2, 3, 5, 7, 64, 4096, FILE_CHUNK_BYTES]
      : [7, 4096, FILE_CHUNK_BYTES]) {
      const got = await parseFile(path, size);
      assert.ok(Buffer.from(got.bytes).equals(whole), `${name} at ${size}: bytes`);
      assert.deepEqual(got.nals, nals, `${name} at ${size}: NAL units`);
      assert.deepEqual(got.aus, aus, `${name} at ${size}: access units`);
    }
  }
});

test('a long read gives the event loop a turn, and an abort ends it', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    const path = join(dir, 'long.h264');
    writeFileSync(path, new Uint8Array(256 * 1024).fill(0xff));
    let immediateRan = false;
    setImmediate(() => {
      immediateRan = true;
    });
    const abort = new AbortController();
    const source = openByteSource(path, { fileChunkBytes: 1024, signal: abort.signal });
    let chunks = 0;
    for await (const _ of source) {
      chunks++;
      if (immediateRan) {
        abort.abort();
        continue;
      }
      // Work that outlasts FILE_TURN_MS on every chunk: the next chunk must come after a turn.
      const until = performance.now() + FILE_TURN_MS + 1;
      while (performance.now() < until) {
        // busy, as a slow consumer is
      }
    }
    assert.equal(immediateRan, true);
    // One chunk without a turn (the busy one), one after it that saw the turn and aborted; none after the abort.
    assert.equal(chunks, 2);
  } finally {
    cleanup();
  }
});

test('a character device is read (as before, on the thread pool)', async () => {
  const chunks: Uint8Array[] = [];
  for await (const chunk of openByteSource('/dev/null')) chunks.push(chunk);
  assert.deepEqual(chunks, []);
});
