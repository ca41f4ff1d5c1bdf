/**
 * H264StreamParser hands the AccessUnitAssembler each NAL unit's offset at
 * its start, so the slice header read there to find picture boundaries is
 * reused when the slice is pushed instead of being read twice. The reuse
 * must change nothing: the same access units, POC, errors and emission
 * order as an assembler that reads every header again (nalStart without an
 * offset), on every corpus stream at several chunk sizes, and on a stream
 * with slices cut shorter than their header (whose first bytes then run on
 * into the next NAL unit).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { H264Error } from '../../src/errors.js';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import { AccessUnitAssembler } from '../../src/h264/access-unit-assembler.js';
import { AnnexBScanner } from '../../src/h264/annexb-scanner.js';
import { H264StreamParser, parseAnnexB } from '../../src/h264/h264-stream-parser.js';
import { corpusDir, corpusFile } from '../support/paths.js';
import { flatAccessUnit } from './h264-test-helpers.js';

/** Events in order: each NAL unit as it completes, each access unit as emitted, each error. */
type Log = string[];

const auLine = (au: AccessUnit): string =>
  `AU ${JSON.stringify(flatAccessUnit(au))} ref=${au.isReference} pocReset=${au.pocReset}`;
const errLine = (e: H264Error): string => `ERR ${e.code} ${e.message}`;

/** The parser as shipped (header reuse). */
function withReuse(bytes: Uint8Array, chunk: number): Log {
  const log: Log = [];
  const parser = new H264StreamParser({
    onNal: (n) => log.push(`NAL ${n.type}@${n.offset}`),
    onAccessUnit: (au) => log.push(auLine(au)),
    onError: (e) => log.push(errLine(e)),
  });
  for (let at = 0; at < bytes.length; at += chunk) parser.push(bytes.subarray(at, at + chunk));
  parser.flush();
  return log;
}

/** The same wiring, but nalStart() without the offset: every slice header is read again at push(). */
function withoutReuse(bytes: Uint8Array, chunk: number): Log {
  const log: Log = [];
  const assembler = new AccessUnitAssembler({
    onAccessUnit: (au) => log.push(auLine(au)),
    onError: (e) => log.push(errLine(e)),
  });
  const scanner = new AnnexBScanner({
    onNal: (n) => {
      log.push(`NAL ${n.type}@${n.offset}`);
      assembler.push(n);
    },
    onNalStart: (type, _offset, b, index) => assembler.nalStart(type, b, index),
    onError: (e) => log.push(errLine(e)),
  });
  for (let at = 0; at < bytes.length; at += chunk) scanner.push(bytes.subarray(at, at + chunk));
  scanner.flush();
  assembler.flush();
  return log;
}

test('reusing the slice header read at a NAL start changes nothing on the corpus', () => {
  const names = readdirSync(corpusDir).filter((f) => /\.(264|h264|jsv|avc)$/.test(f));
  assert.ok(names.length > 30);
  for (const name of names) {
    const bytes = readFileSync(corpusFile(name));
    for (const chunk of [bytes.length, 65536, 997, 64]) {
      assert.deepEqual(withReuse(bytes, chunk), withoutReuse(bytes, chunk), `${name}, chunks of ${chunk}`);
    }
  }
});

test('slices shorter than their header (the header read runs on into the next NAL unit) are not reused', () => {
  // Static.264 with every other non-IDR slice cut to its first 2 to 4 bytes (the slice before each
  // is whole, so its header is there to compare with): some headers then end in the next start code.
  const whole = parseAnnexB(readFileSync(corpusFile('Static.264')));
  const parts: number[] = [];
  let cut = 0;
  for (const nal of whole.nals) {
    let data = nal.data;
    if (nal.type === 1 && cut++ % 2 === 1) data = data.subarray(0, 2 + (cut % 3));
    parts.push(0, 0, 0, 1, ...data);
  }
  const bytes = Uint8Array.from(parts);
  for (const chunk of [bytes.length, 4096, 61]) {
    const reused = withReuse(bytes, chunk);
    assert.deepEqual(reused, withoutReuse(bytes, chunk), `chunks of ${chunk}`);
    assert.ok(
      reused.some((l) => l.startsWith('ERR')),
      'the cut slices are reported',
    );
  }
});
