/**
 * An SPS whose VUI timing info is replaced (or added, with a minimal VUI
 * when there is none): num_units_in_tick and time_scale as given,
 * fixed_frame_rate_flag 0; every other bit kept.
 *
 * Why (src/api/fmp4-parts.ts uses it for the rides' init sections):
 * WebKitGTK's MediaSource puts GStreamer's h264parse after its MP4 demuxer,
 * and h264parse gives every frame the duration of two ticks of the VUI
 * clock (1 / the frame rate), whatever the MP4 says; with no VUI timing, no
 * duration at all (WebKit then takes 1/60 s). WebKit's coded frame
 * processing takes a decode-time step of more than twice the largest frame
 * duration seen for a discontinuity and drops every frame up to the next
 * key frame: a capture stall of 0.2 s at 30 fps became a hole of up to a
 * second, where WebKitGTK stopped. With a tick of a quarter second, frames
 * last half a second there and stalls up to a second pass.
 *
 * fixed_frame_rate_flag 0 claims no frame rate: without HRD parameters or
 * picture timing SEI the tick has no normative use in decoding (Annex C, E).
 */
import { nalToRbsp, rbspToNal } from './rbsp.js';
import { parseSps } from './sps.js';

/** The VUI clock: time_scale units per second, num_units_in_tick units per tick. */
export interface VuiTiming {
  numUnitsInTick: number;
  timeScale: number;
}

/**
 * `nal` (an SPS NAL unit, header byte first, emulation prevention in place) with VUI timing
 * `timing` and fixed_frame_rate_flag 0; `nal` itself when it has exactly that already.
 * Throws H264Error when the SPS cannot be read, RangeError for a tick that is not two
 * positive 32-bit numbers.
 */
export function spsWithTiming(nal: Uint8Array, timing: VuiTiming): Uint8Array {
  for (const v of [timing.numUnitsInTick, timing.timeScale])
    if (!Number.isInteger(v) || v < 1 || v > 0xffffffff) throw new RangeError(`VUI timing value ${v}: 1..2^32-1`);
  const sps = parseSps(nal);
  const vui = sps.vui;
  if (
    vui?.timingInfoPresentFlag &&
    vui.numUnitsInTick === timing.numUnitsInTick &&
    vui.timeScale === timing.timeScale &&
    !vui.fixedFrameRateFlag
  )
    return nal;
  const rbsp = nalToRbsp(nal.subarray(1));
  const bit = (i: number): number => ((rbsp[i >> 3] as number) >> (7 - (i & 7))) & 1;
  // The rbsp_stop_one_bit: the last 1 bit (zero bits and bytes after it are padding).
  let stop = rbsp.length * 8 - 1;
  while (stop >= 0 && bit(stop) === 0) stop--;
  const bits: number[] = [];
  const copy = (from: number, to: number): void => {
    for (let i = from; i < to; i++) bits.push(bit(i));
  };
  const put = (value: number, n: number): void => {
    for (let i = n - 1; i >= 0; i--) bits.push(Math.floor(value / 2 ** i) % 2);
  };
  const putTiming = (): void => {
    put(1, 1); // timing_info_present_flag
    put(timing.numUnitsInTick, 32);
    put(timing.timeScale, 32);
    put(0, 1); // fixed_frame_rate_flag
  };
  if (vui) {
    copy(0, vui.timingInfoBit);
    putTiming();
    copy(vui.timingInfoBit + 1 + (vui.timingInfoPresentFlag ? 65 : 0), stop);
  } else {
    // vui_parameters_present_flag is the SPS's last element: a VUI with only timing info after it.
    copy(0, sps.vuiBit);
    put(1, 1); // vui_parameters_present_flag
    put(0, 4); // aspect_ratio_info, overscan_info, video_signal_type, chroma_loc_info: absent
    putTiming();
    put(0, 4); // nal_hrd, vcl_hrd, pic_struct_present, bitstream_restriction: absent (inferred as before)
  }
  bits.push(1); // rbsp_stop_one_bit, then zero bits to the byte's end
  const out = new Uint8Array(Math.ceil(bits.length / 8));
  bits.forEach((b, i) => {
    if (b) out[i >> 3] = (out[i >> 3] as number) | (0x80 >> (i & 7));
  });
  const body = rbspToNal(out);
  const result = new Uint8Array(1 + body.length);
  result[0] = nal[0] as number;
  result.set(body, 1);
  return result;
}
