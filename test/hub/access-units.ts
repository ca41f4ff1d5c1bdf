/**
 * Test helper: groups an Annex-B buffer into AccessUnit objects with a plain
 * rule (a new access unit starts at an AUD/SPS/PPS/SEI after a slice, or at a
 * slice with first_mb_in_slice = 0 after a slice), so hub and output tests
 * do not depend on the full assembler. POC and parsed parameter sets are left
 * unknown, as for a stream whose SPS the assembler could not parse.
 */
import { readFileSync } from 'node:fs';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import { splitAnnexB } from '../../src/h264/annexb-scanner.js';
import { isVclNalType, type NalUnit } from '../../src/h264/nal-unit.js';
import { repoRoot } from '../support/paths.js';
import { join } from 'node:path';

/** The bundled 640x360 30 fps sample clip (SPS/PPS before each IDR, one IDR per second). */
export const samplePath = join(repoRoot, 'assets', 'sample-640x360.h264');

/** Splits Annex-B bytes into access units (see the file comment). */
export function accessUnitsOf(bytes: Uint8Array): AccessUnit[] {
  const out: AccessUnit[] = [];
  let current: NalUnit[] = [];
  let hasVcl = false;
  const flush = (): void => {
    if (current.length === 0) return;
    const first = current[0] as NalUnit;
    const last = current[current.length - 1] as NalUnit;
    out.push({
      nals: current,
      isKey: current.some((n) => n.type === 5),
      sliceTypes: [],
      poc: null,
      structure: 'frame',
      sps: undefined,
      pps: undefined,
      offset: first.offset,
      byteLength: last.offset + last.startCodeLength + last.data.length - first.offset,
    });
    current = [];
    hasVcl = false;
  };
  for (const nal of splitAnnexB(bytes)) {
    const vcl = isVclNalType(nal.type);
    const firstMbZero = vcl && ((nal.data[1] ?? 0) & 0x80) !== 0;
    if (hasVcl && (!vcl ? [6, 7, 8, 9].includes(nal.type) : firstMbZero)) flush();
    current.push(nal);
    if (vcl) hasVcl = true;
  }
  flush();
  return out;
}

/** Access units of a file. */
export function accessUnitsOfFile(path: string): AccessUnit[] {
  return accessUnitsOf(readFileSync(path));
}

/** A controllable monotonic clock for deterministic tests. */
export class FakeClock {
  constructor(public nowMs = 1000) {}
  /** The clock function to inject. */
  readonly now = (): number => this.nowMs;
  advance(ms: number): void {
    this.nowMs += ms;
  }
}
