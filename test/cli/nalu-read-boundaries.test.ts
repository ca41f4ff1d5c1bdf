/**
 * `rearview nalu FILE` reads a file in fixed-size reads into one reused
 * buffer. A stream is built so that its start codes straddle those read
 * boundaries at every offset from five bytes after a start code's first
 * byte to six before it, with 3- and 4-byte start codes, trailing zero
 * bytes, access units that begin with a capture-time SEI (whose data is
 * read when the access unit is printed, one read later) and ones that begin
 * with a slice (told apart by its header, which the boundary may cut).
 * The CLI's output must equal what the library gives for the whole buffer
 * in one piece, and what the same CLI gives for the file through a pipe.
 * Likewise NAL units larger than a read (a slice over three reads, filler
 * data over two), and files that end mid-NAL, mid-start-code or exactly at
 * a read boundary.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FILE_CHUNK_BYTES } from '../../src/cli/byte-source.js';
import { frameJson, seedLine } from '../../src/cli/nalu-report.js';
import { splitAnnexB } from '../../src/h264/annexb-scanner.js';
import { buildCaptureTimeSei } from '../../src/h264/capture-time-sei.js';
import { parseAnnexB } from '../../src/h264/h264-stream-parser.js';
import { cliPath, corpusFile, scratchDir } from '../support/paths.js';

/** Start code offsets relative to each read boundary (the start code's first byte at boundary + offset). */
const OFFSETS = [-5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6];

/** The stream: Static.264's access units over and over, one per read, each padded with filler data. */
function buildStream(): Uint8Array {
  const corpus = parseAnnexB(readFileSync(corpusFile('Static.264')));
  const parts: Uint8Array[] = [];
  let length = 0;
  const put = (bytes: Uint8Array): void => {
    parts.push(bytes);
    length += bytes.length;
  };
  const cases = OFFSETS.flatMap((offset) => [3, 4].map((startCodeLength) => ({ offset, startCodeLength })));
  for (let i = 0; i <= cases.length; i++) {
    const au = corpus.accessUnits[i % corpus.accessUnits.length]!;
    const nals = [
      ...(i % 2 === 0 ? [buildCaptureTimeSei(1_764_000_000_000 + i * 33)] : []),
      ...au.nals.map((n) => n.data),
    ];
    nals.forEach((nal, k) => {
      // The access unit's first start code is placed by the previous filler; the rest are 4 bytes.
      if (k > 0 || i === 0) put(Uint8Array.of(0, 0, 0, 1));
      put(nal);
    });
    const next = cases[i];
    if (!next) break;
    // Filler data (type 12) up to the next access unit, whose start code begins at boundary + offset,
    // after two trailing zero bytes every third time.
    const trailingZeros = i % 3 === 0 ? 2 : 0;
    const nextStart = (i + 1) * FILE_CHUNK_BYTES + next.offset;
    const fillerBytes = nextStart - trailingZeros - length - 4 - 2;
    const filler = new Uint8Array(4 + 2 + fillerBytes + trailingZeros + next.startCodeLength);
    filler.set([0, 0, 0, 1, 0x0c]);
    filler.fill(0xff, 5, 5 + fillerBytes);
    filler[5 + fillerBytes] = 0x80; // rbsp_trailing_bits
    filler[filler.length - 1] = 1; // the next start code's 0x01 (zeros before it)
    put(filler);
    assert.equal(length - next.startCodeLength, nextStart);
  }
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return bytes;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return bytes;
}

/** Static.264 with a slice NAL unit that spans three reads and filler data that spans two. */
function buildBigNalStream(): Uint8Array {
  const corpus = parseAnnexB(readFileSync(corpusFile('Static.264')));
  const sc = Uint8Array.of(0, 0, 0, 1);
  const parts: Uint8Array[] = [];
  corpus.accessUnits.forEach((au, i) => {
    au.nals.forEach((nal, k) => {
      parts.push(sc, nal.data);
      // The first picture's last slice grows by two reads and a bit (0xaa never makes a start code).
      if (i === 0 && k === au.nals.length - 1) parts.push(new Uint8Array(2 * FILE_CHUNK_BYTES + 333).fill(0xaa));
    });
    if (i === 2) {
      const filler = new Uint8Array(FILE_CHUNK_BYTES + 4097).fill(0xff);
      filler[0] = 0x0c;
      filler[filler.length - 1] = 0x80;
      parts.push(Uint8Array.of(0, 0, 1), filler);
    }
  });
  return concat(parts);
}

/** The CLI's output equals the one-piece library output in the main modes, and a pipe's. */
function checkAgainstOnePiece(file: string, bytes: Uint8Array, label: string): void {
  writeFileSync(file, bytes);
  const whole = parseAnnexB(bytes);
  const listing = nalu([file]);
  assert.equal(listing.stdout, `${splitAnnexB(bytes).map(seedLine).join('\n')}\n`, `${label}: listing`);
  const frames = nalu([file, '--frames', '--json']);
  assert.equal(
    frames.stdout,
    `${whole.accessUnits.map((au, i) => frameJson(i, au, undefined)).join('\n')}\n`,
    `${label}: --frames --json`,
  );
  const summary = JSON.parse(nalu([file, '--summary', '--json']).stdout) as Record<string, unknown>;
  assert.equal(summary.bytes, bytes.length, `${label}: bytes`);
  assert.equal(summary.nalUnits, whole.nals.length, `${label}: NAL units`);
  assert.equal(summary.accessUnits, whole.accessUnits.length, `${label}: access units`);
  const json = nalu([file, '--json']);
  assert.deepEqual(nalu(['-', '--json'], bytes), json, `${label}: the same through a pipe`);
  assert.equal(frames.stderr, json.stderr, `${label}: the same warnings in every mode`);
}

function nalu(args: string[], input?: Uint8Array): { stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cliPath, 'nalu', ...args], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    ...(input ? { input } : {}),
  });
  assert.equal(r.status, 0, `nalu ${args.join(' ')}: ${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

test('start codes straddling read boundaries at every offset give the one-piece output in every mode', () => {
  const bytes = buildStream();
  const { dir, cleanup } = scratchDir();
  try {
    const file = join(dir, 'boundaries.h264');
    writeFileSync(file, bytes);
    const whole = parseAnnexB(bytes);
    assert.deepEqual(whole.errors, []);
    assert.ok(whole.accessUnits.length > OFFSETS.length * 2);

    const listing = nalu([file]);
    assert.equal(listing.stderr, '');
    assert.equal(listing.stdout, `${splitAnnexB(bytes).map(seedLine).join('\n')}\n`);

    const frames = nalu([file, '--frames', '--json']).stdout;
    assert.equal(frames, `${whole.accessUnits.map((au, i) => frameJson(i, au, undefined)).join('\n')}\n`);
    assert.equal(frames.match(/"capturedAtMs":/g)?.length, OFFSETS.length + 1, 'every capture-time SEI read intact');

    const summary = JSON.parse(nalu([file, '--summary', '--json']).stdout) as Record<string, unknown>;
    assert.equal(summary.bytes, bytes.length);
    assert.equal(summary.nalUnits, whole.nals.length);
    assert.equal(summary.accessUnits, whole.accessUnits.length);
    assert.equal(summary.keyframes, whole.accessUnits.filter((au) => au.isKey).length);
    assert.equal(summary.errors, 0);

    // A pipe hands over fresh 64 KiB chunks instead: the same NAL units, parsed the same way.
    const json = nalu([file, '--json']).stdout;
    assert.equal(json.split('\n').length - 1, whole.nals.length);
    assert.equal(nalu(['-', '--json'], bytes).stdout, json);
    assert.equal(nalu(['-'], bytes).stdout, listing.stdout);
  } finally {
    cleanup();
  }
});

test('NAL units larger than a read, and files that end mid-NAL or at a read boundary, give the one-piece output', () => {
  const bytes = buildBigNalStream();
  assert.ok(bytes.length > 3 * FILE_CHUNK_BYTES);
  const whole = parseAnnexB(bytes);
  assert.deepEqual(whole.errors, []);
  assert.ok(whole.nals.some((n) => (n.type === 1 || n.type === 5) && n.data.length > 2 * FILE_CHUNK_BYTES));
  assert.ok(whole.nals.some((n) => n.type === 12 && n.data.length > FILE_CHUNK_BYTES));
  const { dir, cleanup } = scratchDir();
  try {
    const file = join(dir, 'big-nal.h264');
    checkAgainstOnePiece(file, bytes, 'whole');
    // Cut inside the big slice: exactly at a read boundary, and a byte past one.
    checkAgainstOnePiece(file, bytes.subarray(0, 2 * FILE_CHUNK_BYTES), 'ends at a read boundary inside a NAL unit');
    checkAgainstOnePiece(file, bytes.subarray(0, FILE_CHUNK_BYTES + 1), 'ends a byte into a read, inside a NAL unit');
    // Cut right after the last start code (then after its header byte), and inside a start code.
    const lastStart = whole.nals[whole.nals.length - 1]!.offset;
    checkAgainstOnePiece(file, bytes.subarray(0, lastStart + 4), 'ends after a start code');
    checkAgainstOnePiece(file, bytes.subarray(0, lastStart + 5), 'ends after a NAL header byte');
    checkAgainstOnePiece(file, bytes.subarray(0, lastStart + 2), 'ends inside a start code');
  } finally {
    cleanup();
  }
});
