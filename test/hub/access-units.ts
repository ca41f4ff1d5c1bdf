/**
 * Test helpers for hub and output tests: access units of a file (via the
 * project's parser, as sources deliver them).
 */
import { readFileSync } from 'node:fs';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import { parseAnnexB } from '../../src/h264/h264-stream-parser.js';
import { repoRoot } from '../support/paths.js';
import { join } from 'node:path';

/** The bundled 640x360 30 fps sample clip (SPS/PPS before each IDR, one IDR per second). */
export const samplePath = join(repoRoot, 'assets', 'sample-640x360.h264');

/** Access units of Annex-B bytes, as the sources deliver them (the project's parser). */
export function accessUnitsOf(bytes: Uint8Array): AccessUnit[] {
  return parseAnnexB(bytes).accessUnits;
}

/** Access units of a file. */
export function accessUnitsOfFile(path: string): AccessUnit[] {
  return accessUnitsOf(readFileSync(path));
}
