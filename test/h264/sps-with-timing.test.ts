/**
 * spsWithTiming: the VUI clock replaced (or a VUI added), every other SPS
 * field unchanged, on hand-built SPS (no VUI; VUI without timing; VUI with
 * timing followed by HRD and bitstream restriction) and on x264's.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { splitAnnexB } from '../../src/h264/annexb-scanner.js';
import { nalToRbsp, rbspToNal } from '../../src/h264/rbsp.js';
import { parseSps, type SequenceParameterSet } from '../../src/h264/sps.js';
import { spsWithTiming } from '../../src/h264/sps-with-timing.js';
import { requireTool } from '../support/tools.js';
import { BitWriter, buildSps } from './h264-test-helpers.js';

const SLOW = { numUnitsInTick: 1, timeScale: 4 };

/** The fields that must not change: all but the VUI timing and the bit positions. */
function unchanged(sps: SequenceParameterSet): Record<string, unknown> {
  const { vui, vuiBit: _b, vuiParametersPresentFlag: _p, fps: _f, ...rest } = sps;
  if (!vui) return rest;
  const { timingInfoPresentFlag: _t, numUnitsInTick: _n, timeScale: _s, fixedFrameRateFlag: _x, ...v } = vui;
  return { ...rest, vui: v };
}

/** Main-profile SPS with a VUI: SAR, colour description, optional timing, NAL HRD, bitstream restriction. */
function vuiSps(timing: boolean): Uint8Array {
  const w = new BitWriter().u(8, 77).u(8, 0x40).u(8, 31).ue(0);
  w.ue(4).ue(2).ue(1).flag(false).ue(79).ue(44).flag(true).flag(true).flag(false); // 1280x720, no cropping
  w.flag(true); // VUI
  w.flag(true).u(8, 1); // SAR 1:1
  w.flag(false); // overscan
  w.flag(true).u(3, 5).flag(true).flag(true).u(8, 1).u(8, 1).u(8, 1); // video signal, BT.709
  w.flag(false); // chroma loc
  w.flag(timing);
  if (timing) w.u(32, 1).u(32, 60).flag(true); // 30 fps, fixed
  w.flag(true).ue(0).u(4, 2).u(4, 3).ue(999).ue(1999).flag(false).u(5, 23).u(5, 23).u(5, 23).u(5, 24); // NAL HRD
  w.flag(false).flag(false); // no VCL HRD, low_delay_hrd_flag 0
  w.flag(true); // pic_struct_present_flag
  w.flag(true).flag(true).ue(2).ue(1).ue(16).ue(16).ue(0).ue(1); // bitstream restriction
  return Uint8Array.of(0x67, ...rbspToNal(w.trailing()));
}

describe('spsWithTiming', () => {
  it('replaces the VUI clock of an SPS with timing, HRD and bitstream restriction after it kept', () => {
    const before = vuiSps(true);
    const after = spsWithTiming(before, SLOW);
    const a = parseSps(after);
    assert.deepEqual(
      [a.vui?.timingInfoPresentFlag, a.vui?.numUnitsInTick, a.vui?.timeScale, a.vui?.fixedFrameRateFlag],
      [true, 1, 4, false],
    );
    assert.equal(a.fps, 2);
    assert.deepEqual(unchanged(a), unchanged(parseSps(before)));
    assert.equal(a.vui?.nalHrd?.bitRateValueMinus1[0], 999);
    assert.equal(a.vui?.maxDecFrameBuffering, 1);
    // Same RBSP length: two 32-bit numbers replaced (1 and 4 need one emulation-prevention byte more than 1 and 60).
    assert.equal(nalToRbsp(after).length, nalToRbsp(before).length);
  });

  it('adds timing to a VUI without it', () => {
    const before = vuiSps(false);
    const a = parseSps(spsWithTiming(before, SLOW));
    assert.deepEqual([a.vui?.timingInfoPresentFlag, a.vui?.numUnitsInTick, a.vui?.timeScale], [true, 1, 4]);
    assert.deepEqual(unchanged(a), unchanged(parseSps(before)));
  });

  it('adds a VUI with only timing to an SPS without one', () => {
    const before = buildSps({ profileIdc: 66, widthMbs: 40, heightMapUnits: 23 });
    const a = parseSps(spsWithTiming(before, SLOW));
    assert.equal(a.vuiParametersPresentFlag, true);
    assert.deepEqual([a.vui?.timingInfoPresentFlag, a.vui?.numUnitsInTick, a.vui?.timeScale], [true, 1, 4]);
    const v = a.vui;
    assert.deepEqual(
      [v?.aspectRatioInfoPresentFlag, v?.videoSignalTypePresentFlag, v?.nalHrdParametersPresentFlag],
      [false, false, false],
    );
    assert.equal(v?.bitstreamRestrictionFlag, false);
    const b = parseSps(before);
    assert.deepEqual([a.width, a.height, a.maxFrameNum], [b.width, b.height, b.maxFrameNum]);
  });

  it('returns the SPS itself when it has that clock already, and is idempotent', () => {
    const once = spsWithTiming(vuiSps(true), SLOW);
    assert.equal(spsWithTiming(once, SLOW), once);
  });

  it('keeps emulation prevention: a tick with zero bytes gives no start code', () => {
    const out = spsWithTiming(vuiSps(true), { numUnitsInTick: 1, timeScale: 0x100 });
    for (let i = 2; i < out.length; i++)
      assert.ok(!(out[i - 2] === 0 && out[i - 1] === 0 && (out[i] as number) <= 2), `start code at ${i}`);
    assert.equal(parseSps(out).vui?.timeScale, 0x100);
  });

  it('refuses a tick that is not two positive 32-bit numbers', () => {
    assert.throws(() => spsWithTiming(vuiSps(true), { numUnitsInTick: 0, timeScale: 4 }), RangeError);
    assert.throws(() => spsWithTiming(vuiSps(true), { numUnitsInTick: 1, timeScale: 2 ** 32 }), RangeError);
  });

  it("rewrites x264's High-profile SPS, which ffmpeg still decodes with", () => {
    const enc = spawnSync(
      requireTool('ffmpeg'),
      [
        ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=30', '-frames:v', '10'],
        ...['-c:v', 'libx264', '-profile:v', 'high', '-bf', '0', '-f', 'h264', '-'],
      ],
      { maxBuffer: 16 << 20 },
    );
    assert.equal(enc.status, 0, String(enc.stderr));
    const stream = new Uint8Array(enc.stdout);
    const nals = splitAnnexB(stream).map((n) => n.data);
    const sps = nals.find((n) => ((n[0] as number) & 0x1f) === 7) as Uint8Array;
    const after = spsWithTiming(sps, SLOW);
    assert.deepEqual(unchanged(parseSps(after)), unchanged(parseSps(sps)));
    const rewritten = Buffer.concat(
      nals.map((n) => Buffer.concat([Buffer.of(0, 0, 0, 1), Buffer.from(n === sps ? after : n)])),
    );
    const dec = spawnSync(
      requireTool('ffmpeg'),
      ['-v', 'error', '-xerror', '-f', 'h264', '-i', '-', '-f', 'framemd5', '-'],
      {
        input: rewritten,
        encoding: 'utf8',
      },
    );
    assert.equal(dec.status, 0, dec.stderr);
    assert.equal(dec.stdout.split('\n').filter((l) => /^0,/.test(l)).length, 10);
  });
});
