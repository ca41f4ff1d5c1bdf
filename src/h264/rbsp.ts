/**
 * NAL unit payload <-> RBSP, H.264 clause 7.3.1 / 7.4.1: removing and
 * inserting emulation_prevention_three_byte (0x03 after two zero bytes).
 *
 * Speed: 0x03 bytes are found with `indexOf(3)` and only those are checked,
 * so a NAL without emulation prevention is returned as a view, uncopied.
 */

/**
 * Removes emulation-prevention bytes (00 00 03 -> 00 00) from `nal`
 * (header byte included or not: the bytes are treated alike).
 *
 * Returns a view of `nal` when nothing is removed. `maxBytes` limits the
 * work to the first `maxBytes` input bytes (default: all), so a slice header
 * can be read without touching the slice data; the result then holds at
 * most `maxBytes` bytes.
 */
export function nalToRbsp(nal: Uint8Array, maxBytes: number = nal.length): Uint8Array {
  const end = maxBytes < nal.length ? Math.max(0, maxBytes) : nal.length;
  let three = nal.indexOf(3, 2);
  // Fast path: no 00 00 03 in range.
  while (three >= 0 && three < end && !(nal[three - 1] === 0 && nal[three - 2] === 0))
    three = nal.indexOf(3, three + 1);
  if (three < 0 || three >= end) return end === nal.length ? nal : nal.subarray(0, end);
  const out = new Uint8Array(end);
  let written = 0;
  let from = 0;
  while (three >= 0 && three < end) {
    out.set(nal.subarray(from, three), written);
    written += three - from;
    from = three + 1;
    // The next emulation-prevention byte needs two fresh zero bytes after this one.
    let next = nal.indexOf(3, three + 1);
    while (next >= 0 && next < end && !(next - 2 >= from && nal[next - 1] === 0 && nal[next - 2] === 0)) {
      next = nal.indexOf(3, next + 1);
    }
    three = next;
  }
  out.set(nal.subarray(from, end), written);
  written += end - from;
  return out.subarray(0, written);
}

/**
 * Inserts emulation-prevention bytes: after every two zero bytes followed by
 * a byte <= 3, and at the end when the data ends in two zero bytes (a
 * cabac_zero_word), so the result never contains a start code.
 */
export function rbspToNal(rbsp: Uint8Array): Uint8Array {
  // Count first, so the common case (nothing to insert) returns the input.
  let needed = 0;
  let zeros = 0;
  for (let i = 0; i < rbsp.length; i++) {
    const b = rbsp[i] as number;
    if (zeros >= 2 && b <= 3) {
      needed++;
      zeros = 0;
    }
    zeros = b === 0 ? zeros + 1 : 0;
  }
  const trailing = zeros >= 2 ? 1 : 0;
  if (needed === 0 && trailing === 0) return rbsp;
  const out = new Uint8Array(rbsp.length + needed + trailing);
  let o = 0;
  zeros = 0;
  for (let i = 0; i < rbsp.length; i++) {
    const b = rbsp[i] as number;
    if (zeros >= 2 && b <= 3) {
      out[o++] = 3;
      zeros = 0;
    }
    out[o++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  if (trailing) out[o++] = 3;
  return out;
}
