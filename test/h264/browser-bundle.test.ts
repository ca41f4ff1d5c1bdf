/**
 * The parser runs without Node: src/h264/h264-stream-parser.ts bundled by
 * esbuild for the browser, executed in a bare JavaScript context (no Buffer,
 * process, require or node: modules), gives the same access units as in
 * Node.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createContext, runInContext } from 'node:vm';
import { build } from 'esbuild';
import { parseAnnexB } from '../../src/h264/h264-stream-parser.js';
import { corpusFile, repoRoot } from '../support/paths.js';

describe('src/h264 in a browser-like context', () => {
  it('bundles for the browser and parses a corpus file in a context without Node globals', async () => {
    const result = await build({
      entryPoints: [join(repoRoot, 'src', 'h264', 'h264-stream-parser.ts')],
      bundle: true,
      platform: 'browser',
      format: 'iife',
      globalName: 'h264',
      write: false,
      logLevel: 'silent',
    });
    const code = result.outputFiles[0]!.text;
    assert.doesNotMatch(code, /require\(|from "node:/);
    const context = createContext({});
    runInContext(code, context);
    assert.equal(runInContext('typeof Buffer + typeof process + typeof require', context), 'undefinedundefinedundefined');
    const bytes = readFileSync(corpusFile('CAPAMA3_Sand_F.264'));
    context['input'] = runInContext('new Uint8Array(' + bytes.length + ')', context);
    (context['input'] as Uint8Array).set(bytes);
    const summary = runInContext(
      'const r = h264.parseAnnexB(input); JSON.stringify(r.accessUnits.map((a) => [a.offset, a.poc, a.structure, a.isKey]))',
      context,
    ) as string;
    const inNode = parseAnnexB(bytes).accessUnits.map((a) => [a.offset, a.poc, a.structure, a.isKey]);
    assert.deepEqual(JSON.parse(summary), inNode);
    assert.equal(inNode.length, 79);
  });
});
