/**
 * The page's icon at `/favicon.ico` (browsers ask for it on their own): a
 * 16x16 camera lens drawn here as a 32-bit BMP inside an ICO, so there is no
 * binary file to ship or read.
 */

const SIZE = 16;

/** BGRA of one pixel of the lens: a dark ring around a blue glass with a light spot. */
function pixel(x: number, y: number): [number, number, number, number] {
  const dx = x + 0.5 - SIZE / 2;
  const dy = y + 0.5 - SIZE / 2;
  const r = Math.hypot(dx, dy);
  if (r > 7.5) return [0, 0, 0, 0];
  if (r > 5.5) return [0x38, 0x32, 0x2d, 0xff]; // body #2d3238
  if (Math.hypot(dx + 1.5, dy - 1.5) < 1.5) return [0xff, 0xff, 0xff, 0xff]; // highlight (BMP rows run bottom-up)
  return [0xff, 0xb8, 0x5c, 0xff]; // glass #5cb8ff, the page's accent
}

let cached: Buffer | undefined;

/** The icon's bytes (image/x-icon). */
export function faviconIco(): Buffer {
  if (cached) return cached;
  const pixels = SIZE * SIZE * 4;
  const maskRowBytes = 4; // 16 bits padded to 32
  const imageBytes = 40 + pixels + maskRowBytes * SIZE;
  const buf = Buffer.alloc(6 + 16 + imageBytes);
  // ICONDIR: reserved, type 1 (icon), one image.
  buf.writeUInt16LE(0, 0);
  buf.writeUInt16LE(1, 2);
  buf.writeUInt16LE(1, 4);
  // ICONDIRENTRY: 16x16, no palette, 1 plane, 32 bpp, size, offset.
  buf.writeUInt8(SIZE, 6);
  buf.writeUInt8(SIZE, 7);
  buf.writeUInt16LE(1, 10);
  buf.writeUInt16LE(32, 12);
  buf.writeUInt32LE(imageBytes, 14);
  buf.writeUInt32LE(22, 18);
  // BITMAPINFOHEADER: height counts the colour and the mask halves.
  const h = 22;
  buf.writeUInt32LE(40, h);
  buf.writeInt32LE(SIZE, h + 4);
  buf.writeInt32LE(SIZE * 2, h + 8);
  buf.writeUInt16LE(1, h + 12);
  buf.writeUInt16LE(32, h + 14);
  buf.writeUInt32LE(pixels + maskRowBytes * SIZE, h + 20);
  let at = h + 40;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      for (const b of pixel(x, y)) buf.writeUInt8(b, at++);
    }
  }
  // The AND mask stays zero: the alpha channel decides transparency.
  cached = buf;
  return buf;
}
