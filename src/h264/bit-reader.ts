/**
 * MSB-first bit reader over an RBSP (emulation-prevention bytes already
 * removed), with the Exp-Golomb codes of H.264 clause 9.1 (ue(v), se(v)).
 *
 * Errors: reading past the end throws H264Error `ERR_H264_TRUNCATED`; an
 * Exp-Golomb code with more than 31 leading zero bits (a value that cannot
 * occur in any H.264 syntax element) throws `ERR_H264_INVALID`.
 */
import { H264Error } from '../errors.js';

/** Largest number of leading zero bits accepted in ue(v)/se(v) (values up to 2^32 - 2). */
export const MAX_EXP_GOLOMB_LEADING_ZEROS = 31;

/** Reads bits, flags and Exp-Golomb codes from a byte array, most significant bit first. */
export class BitReader {
  private readonly bytes: Uint8Array;
  /** Position in bits from the start of `bytes`. */
  private pos: number;
  /** Bit positions of the first bit and one past the last readable bit. */
  private readonly startBit: number;
  private readonly totalBits: number;
  /** Bit position of the rbsp_stop_one_bit, computed on first use (-1: none found). */
  private stopBit: number | undefined;

  /**
   * Reads `bytes[start, end)` (an RBSP: use nalToRbsp first), from its first
   * bit. `start`/`end` default to the whole array; they let a caller read
   * part of a NAL without making a view.
   */
  constructor(bytes: Uint8Array, start = 0, end: number = bytes.length) {
    if (start < 0 || end > bytes.length || start > end)
      throw new RangeError(`BitReader: bad range [${start}, ${end}) of ${bytes.length} bytes`);
    this.bytes = bytes;
    this.startBit = start * 8;
    this.pos = this.startBit;
    this.totalBits = end * 8;
  }

  /** Bits not yet read. */
  get bitsLeft(): number {
    return this.totalBits - this.pos;
  }

  /** Bits read so far (position from the start of the range, in bits). */
  get bitPosition(): number {
    return this.pos - this.startBit;
  }

  /** True when the next bit is the first bit of a byte. */
  get isByteAligned(): boolean {
    return (this.pos & 7) === 0;
  }

  /** Reads `n` bits (0..32) as an unsigned integer. */
  readBits(n: number): number {
    if (n === 0) return 0;
    if (n < 0 || n > 32) throw new RangeError(`readBits: n must be 0..32, got ${n}`);
    if (this.pos + n > this.totalBits) this.truncated(n);
    let result = 0;
    let pos = this.pos;
    let left = n;
    while (left > 0) {
      const byte = this.bytes[pos >> 3] as number;
      const avail = 8 - (pos & 7);
      const take = Math.min(avail, left);
      const bits = (byte >> (avail - take)) & ((1 << take) - 1);
      // Multiplication, not <<, so 32-bit values stay positive.
      result = result * (1 << take) + bits;
      pos += take;
      left -= take;
    }
    this.pos = pos;
    return result;
  }

  /** Reads one bit (0 or 1). */
  readBit(): number {
    const pos = this.pos;
    if (pos >= this.totalBits) this.truncated(1);
    this.pos = pos + 1;
    return ((this.bytes[pos >> 3] as number) >> (7 - (pos & 7))) & 1;
  }

  /** Reads one bit as a boolean (u(1) flags). */
  readFlag(): boolean {
    return this.readBit() === 1;
  }

  /** Reads an unsigned Exp-Golomb code, ue(v) (clause 9.1). */
  readUE(): number {
    const pos = this.pos;
    // Fast path: a 32-bit window holds codes of up to 31 bits (15 leading zeros).
    if (pos + 40 <= this.totalBits) {
      const i = pos >> 3;
      const shift = pos & 7;
      const b = this.bytes;
      const window =
        ((((b[i] as number) << 24) |
          ((b[i + 1] as number) << 16) |
          ((b[i + 2] as number) << 8) |
          (b[i + 3] as number)) <<
          shift) |
        ((b[i + 4] as number) >> (8 - shift));
      const lz = Math.clz32(window);
      if (lz <= 15) {
        const length = 2 * lz + 1;
        this.pos = pos + length;
        return (window >>> (32 - length)) - 1;
      }
    }
    return this.readUESlow();
  }

  private readUESlow(): number {
    let zeros = 0;
    // Count leading zeros a byte at a time where possible.
    for (;;) {
      const pos = this.pos;
      if (pos >= this.totalBits) this.truncated(1);
      const bitInByte = pos & 7;
      const rest = ((this.bytes[pos >> 3] as number) << bitInByte) & 0xff;
      if (rest === 0) {
        const skipped = 8 - bitInByte;
        zeros += skipped;
        this.pos = pos + skipped;
      } else {
        const lz = Math.clz32(rest) - 24;
        zeros += lz;
        this.pos = pos + lz + 1; // past the leading zeros and the 1 bit
        break;
      }
      if (zeros > MAX_EXP_GOLOMB_LEADING_ZEROS) break;
    }
    if (zeros > MAX_EXP_GOLOMB_LEADING_ZEROS) {
      throw new H264Error(
        'ERR_H264_INVALID',
        `Exp-Golomb code with more than ${MAX_EXP_GOLOMB_LEADING_ZEROS} leading zero bits`,
      );
    }
    if (zeros === 0) return 0;
    return 2 ** zeros - 1 + this.readBits(zeros);
  }

  /** Reads a signed Exp-Golomb code, se(v) (clause 9.1.1). */
  readSE(): number {
    const k = this.readUE();
    // k = 0 must give +0, not -0 (Object.is-based comparisons tell them apart).
    return k % 2 === 1 ? (k + 1) / 2 : k === 0 ? 0 : -(k / 2);
  }

  /** Skips `n` bits. */
  skipBits(n: number): void {
    if (n < 0) throw new RangeError(`skipBits: n must be >= 0, got ${n}`);
    if (this.pos + n > this.totalBits) this.truncated(n);
    this.pos += n;
  }

  /**
   * more_rbsp_data() of clause 7.2: true while there is syntax data before
   * the rbsp_stop_one_bit (the last 1 bit of the RBSP; trailing zero bytes
   * such as cabac_zero_words are ignored).
   */
  moreRbspData(): boolean {
    if (this.stopBit === undefined) {
      const first = this.startBit >> 3;
      let i = (this.totalBits >> 3) - 1;
      while (i >= first && this.bytes[i] === 0) i--;
      if (i < first) {
        this.stopBit = -1;
      } else {
        const byte = this.bytes[i] as number;
        const trailingZeros = 31 - Math.clz32(byte & -byte);
        this.stopBit = i * 8 + 7 - trailingZeros;
      }
    }
    return this.pos < this.stopBit;
  }

  private truncated(wanted: number): never {
    throw new H264Error(
      'ERR_H264_TRUNCATED',
      `bitstream ends after ${this.totalBits - this.startBit} bits; needed ${wanted} more bit(s) at bit ${this.pos - this.startBit}`,
    );
  }
}
