/**
 * The library runs without Node: all of `rearview/h264` (src/h264/index.ts,
 * every module it re-exports, and what they import) bundled by esbuild for
 * the browser, executed in a bare JavaScript context (no Buffer, process,
 * require or node: modules), exports the same names and gives the same
 * results as in Node.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createContext, runInContext } from 'node:vm';
import { build } from 'esbuild';
import * as h264 from '../../src/h264/index.js';
import { corpusFile, repoRoot } from '../support/paths.js';

describe('rearview/h264 in a browser-like context', () => {
  it('bundles the whole public module for the browser and runs it in a context without Node globals', async () => {
    const result = await build({
      entryPoints: [join(repoRoot, 'src', 'h264', 'index.ts')],
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
    assert.equal(
      runInContext('typeof Buffer + typeof process + typeof require', context),
      'undefinedundefinedundefined',
    );
    const names = JSON.parse(runInContext('JSON.stringify(Object.keys(h264).sort())', context) as string) as string[];
    assert.deepEqual(names, Object.keys(h264).sort(), 'every export of the Node module is in the bundle');

    const bytes = readFileSync(corpusFile('CAPAMA3_Sand_F.264'));
    context.input = runInContext(`new Uint8Array(${bytes.length})`, context);
    (context.input as Uint8Array).set(bytes);
    const summary = runInContext(
      'const r = h264.parseAnnexB(input); JSON.stringify(r.accessUnits.map((a) => [a.offset, a.poc, a.structure, a.isKey]))',
      context,
    ) as string;
    const inNode = h264.parseAnnexB(bytes).accessUnits.map((a) => [a.offset, a.poc, a.structure, a.isKey]);
    assert.deepEqual(JSON.parse(summary), inNode);
    assert.equal(inNode.length, 79);

    // Modules beyond the parser: SPS and codec string, avcC, the capture-time SEI, the typed error.
    const sps = h264.splitAnnexB(bytes).find((nal) => nal.type === 7)?.data;
    assert.ok(sps);
    const inContext = JSON.parse(
      runInContext(
        `const sps = h264.splitAnnexB(input).find((n) => n.type === 7).data;
         const pps = h264.splitAnnexB(input).find((n) => n.type === 8).data;
         const s = h264.parseSps(sps);
         const avcc = h264.parseAvcDecoderConfigurationRecord(h264.buildAvcDecoderConfigurationRecord([sps], [pps]));
         let code = null;
         try { h264.codecString(new Uint8Array([0x65])); } catch (e) { code = e instanceof h264.H264Error ? e.code : 'other'; }
         JSON.stringify({ codec: h264.codecString(sps), width: s.width, height: s.height, avccSps: avcc.sps.length,
           seiMs: h264.readCaptureTimeSei(h264.buildCaptureTimeSei(1713198307123)), code })`,
        context,
      ) as string,
    ) as Record<string, unknown>;
    const s = h264.parseSps(sps);
    assert.deepEqual(inContext, {
      codec: h264.codecString(sps),
      width: s.width,
      height: s.height,
      avccSps: 1,
      seiMs: 1713198307123,
      code: 'ERR_H264_INVALID',
    });
  });
});
