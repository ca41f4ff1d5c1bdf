/**
 * Parameter-set ownership for live framing, shared by the StreamHub (the
 * daemon) and the client library's AnnexBFramer: the latest SPS and PPS of
 * each id, so a keyframe can be made decodable on its own even when the
 * encoder sent them only once, and whether they changed (a new resolution).
 */
import { BitReader } from './bit-reader.js';
import { nalToRbsp } from './rbsp.js';

/** True when two byte arrays hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
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
 * Bytes of a parameter set read for its ids: header (1) + SPS profile/level
 * (3) + two ue(v) of at most 63 bits each, with room for emulation prevention.
 */
const ID_PREFIX_BYTES = 24;

/**
 * Reads the first one or two ue(v) values after the NAL header byte, enough
 * to key the store without a full parse:
 * seq_parameter_set_id of an SPS sits after profile/constraints/level (3 bytes),
 * pic_parameter_set_id and seq_parameter_set_id open a PPS. Only a short
 * prefix is unescaped (runs per SPS/PPS NAL, not per frame). A truncated or
 * malformed NAL reads as ids 0.
 */
export function parameterSetIds(nal: Uint8Array): { id: number; spsId: number } {
  const type = (nal[0] ?? 0) & 0x1f;
  try {
    const reader = new BitReader(nalToRbsp(nal, ID_PREFIX_BYTES), type === 7 ? 4 : 1);
    const id = reader.readUE();
    return { id, spsId: type === 8 ? reader.readUE() : id };
  } catch {
    return { id: 0, spsId: 0 };
  }
}
