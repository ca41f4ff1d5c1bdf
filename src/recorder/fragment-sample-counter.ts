/**
 * Counts samples in a fragmented MP4 as it streams past: top-level boxes are
 * tracked by size; each `moof` (small) is collected and its `trun`
 * sample_count fields summed. `mdat` payloads are skipped, not copied.
 */
export class FragmentSampleCounter {
  samples = 0;
  private header = new Uint8Array(16);
  private headerFill = 0;
  /** Bytes left in the current top-level box (after its header). */
  private remaining = 0;
  private moof: Uint8Array | undefined;
  private moofFill = 0;

  push(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.remaining === 0 && !this.moof) {
        // Reading a box header (8 bytes; 16 with a 64-bit size).
        const need = this.headerFill >= 8 && this.sizeField() === 1 ? 16 : 8;
        const take = Math.min(need - this.headerFill, chunk.length - at);
        this.header.set(chunk.subarray(at, at + take), this.headerFill);
        this.headerFill += take;
        at += take;
        if (this.headerFill < need) continue;
        if (need === 8 && this.sizeField() === 1) continue;
        const size = need === 16 ? Number(new DataView(this.header.buffer).getBigUint64(8)) : this.sizeField();
        const type = String.fromCharCode(...this.header.subarray(4, 8));
        this.headerFill = 0;
        const body = size === 0 ? Infinity : size - need;
        if (type === 'moof' && body < 4 * 1024 * 1024) {
          this.moof = new Uint8Array(body);
          this.moofFill = 0;
          if (body === 0) this.finishMoof();
        } else {
          this.remaining = body;
        }
        continue;
      }
      if (this.moof) {
        const take = Math.min(this.moof.length - this.moofFill, chunk.length - at);
        this.moof.set(chunk.subarray(at, at + take), this.moofFill);
        this.moofFill += take;
        at += take;
        if (this.moofFill === this.moof.length) this.finishMoof();
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - at);
      this.remaining -= take;
      at += take;
    }
  }

  private sizeField(): number {
    return new DataView(this.header.buffer).getUint32(0);
  }

  private finishMoof(): void {
    const moof = this.moof as Uint8Array;
    this.moof = undefined;
    const view = new DataView(moof.buffer, moof.byteOffset, moof.byteLength);
    // moof children: mfhd, traf*; traf children: tfhd, tfdt, trun*.
    const walk = (start: number, end: number, inTraf: boolean): void => {
      for (let p = start; p + 8 <= end; ) {
        const size = view.getUint32(p);
        const type = String.fromCharCode(
          moof[p + 4] as number,
          moof[p + 5] as number,
          moof[p + 6] as number,
          moof[p + 7] as number,
        );
        if (size < 8 || p + size > end) return;
        if (type === 'traf') walk(p + 8, p + size, true);
        else if (inTraf && type === 'trun' && p + 16 <= end) this.samples += view.getUint32(p + 12);
        p += size;
      }
    };
    walk(0, moof.length, false);
  }
}
