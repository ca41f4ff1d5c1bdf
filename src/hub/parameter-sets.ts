/**
 * Parameter-set ownership: the hub remembers the latest SPS and PPS of each
 * id, so every keyframe it publishes can start with them even when the
 * encoder sent them only once, and notices when they change (new resolution)
 * so it can publish a new StreamParams generation.
 */

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The latest SPS and PPS NAL units by id, and whether they changed since the last published generation. */
export class ParameterSetStore {
  private readonly spsById = new Map<number, Uint8Array>();
  private readonly ppsById = new Map<number, Uint8Array>();
  /** The id of the SPS/PPS seen last (the ones a keyframe most likely uses). */
  latestSpsId: number | undefined;
  latestPpsId: number | undefined;
  /** True when a stored set changed since `markPublished()`. */
  changed = false;

  /**
   * Stores an SPS or PPS NAL (a copy: the source's buffers are not kept).
   * `id` is seq_parameter_set_id / pic_parameter_set_id (0 when unknown).
   * Returns true when it differs from what was stored under that id.
   */
  store(kind: 'sps' | 'pps', id: number, nal: Uint8Array): boolean {
    const map = kind === 'sps' ? this.spsById : this.ppsById;
    if (kind === 'sps') this.latestSpsId = id;
    else this.latestPpsId = id;
    const old = map.get(id);
    if (old && sameBytes(old, nal)) return false;
    map.set(id, Uint8Array.from(nal));
    this.changed = true;
    return true;
  }

  /** The stored SPS NAL of `id`. */
  sps(id: number): Uint8Array | undefined {
    return this.spsById.get(id);
  }

  /** The stored PPS NAL of `id`. */
  pps(id: number): Uint8Array | undefined {
    return this.ppsById.get(id);
  }

  /** Every stored SPS then every PPS, the latest-seen of each kind last (what a keyframe carries). */
  all(): Uint8Array[] {
    const order = (map: Map<number, Uint8Array>, latest: number | undefined): Uint8Array[] => {
      const out: Uint8Array[] = [];
      for (const [id, nal] of map) if (id !== latest) out.push(nal);
      const last = latest === undefined ? undefined : map.get(latest);
      if (last) out.push(last);
      return out;
    };
    return [...order(this.spsById, this.latestSpsId), ...order(this.ppsById, this.latestPpsId)];
  }

  /** True when at least one SPS and one PPS are known. */
  get complete(): boolean {
    return this.spsById.size > 0 && this.ppsById.size > 0;
  }

  /** Forgets everything (a new source run brings its own). */
  clear(): void {
    this.spsById.clear();
    this.ppsById.clear();
    this.latestSpsId = undefined;
    this.latestPpsId = undefined;
    this.changed = true;
  }
}

/**
 * Reads the first one or two ue(v) values after the NAL header byte, enough
 * to key the store without a full parse:
 * seq_parameter_set_id of an SPS sits after profile/constraints/level (3 bytes),
 * pic_parameter_set_id and seq_parameter_set_id open a PPS. Emulation
 * prevention cannot occur this early in a valid SPS/PPS, so no RBSP unescaping.
 */
export function parameterSetIds(nal: Uint8Array): { id: number; spsId: number } {
  const type = (nal[0] ?? 0) & 0x1f;
  let bit = (type === 7 ? 4 : 1) * 8;
  const readBit = (): number => {
    const byte = nal[bit >> 3];
    if (byte === undefined) throw new RangeError('parameter set truncated');
    const v = (byte >> (7 - (bit & 7))) & 1;
    bit++;
    return v;
  };
  const readUe = (): number => {
    let zeros = 0;
    while (readBit() === 0) if (++zeros > 31) throw new RangeError('bad ue(v)');
    let v = 0;
    for (let i = 0; i < zeros; i++) v = v * 2 + readBit();
    return (1 << zeros) - 1 + v;
  };
  try {
    const id = readUe();
    return { id, spsId: type === 8 ? readUe() : id };
  } catch {
    return { id: 0, spsId: 0 };
  }
}
