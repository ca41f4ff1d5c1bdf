/**
 * Says once, in plain words, when a source's video will not play where users
 * expect it to: browsers decode only 8-bit 4:2:0 H.264 in the Constrained
 * Baseline, Baseline, Main and High profiles (WebCodecs and MSE as shipped by
 * Chrome, Firefox and Safari), and a keyframe interval over 300 frames or
 * 10 s makes a viewer who joins wait that long for a picture (and makes a
 * recording seek coarsely). The stream still flows; this only warns.
 */
import type { AccessUnit } from '../h264/access-unit.js';
import { profileName } from '../h264/sps.js';
import type { Logger } from '../log/logger.js';

/** Longest keyframe interval that passes without a warning, in frames. */
export const MAX_GOP_FRAMES = 300;
/** Longest keyframe interval that passes without a warning, in ms. */
export const MAX_GOP_MS = 10_000;

/** profile_idc values browsers decode: Baseline (66, Constrained Baseline included), Main (77), High (100). */
const BROWSER_PROFILES = new Set([66, 77, 100]);

/** Watches access units of one stream and warns once per kind of problem. */
export class StreamCompatibilityCheck {
  /** Warnings given so far, in order (for status pages and tests). */
  readonly warnings: string[] = [];
  private readonly logger: Logger;
  private readonly warned = new Set<string>();
  private lastSps: unknown;
  private framesSinceKey: number | undefined;
  private keyAtMs = 0;

  constructor(logger: Logger) {
    this.logger = logger;
  }

  /** Looks at the next access unit; `atMs` is its capture time. */
  check(au: AccessUnit, atMs: number): void {
    const sps = au.sps;
    if (sps && sps !== this.lastSps) {
      this.lastSps = sps;
      const why: string[] = [];
      if (sps.chromaFormatIdc !== 1)
        why.push(
          `chroma format ${['4:0:0 (monochrome)', '4:2:0', '4:2:2', '4:4:4'][sps.chromaFormatIdc] ?? sps.chromaFormatIdc}`,
        );
      if (sps.bitDepthLuma !== 8 || sps.bitDepthChroma !== 8)
        why.push(`${Math.max(sps.bitDepthLuma, sps.bitDepthChroma)}-bit samples`);
      if (!BROWSER_PROFILES.has(sps.profileIdc))
        why.push(`the ${profileName(sps.profileIdc, sps.constraintFlags)} profile (profile_idc ${sps.profileIdc})`);
      if (why.length > 0) {
        this.warnOnce(
          `format:${why.join()}`,
          `the video will not play in web browsers: ${why.join(', ')} (browsers decode 8-bit 4:2:0 Baseline, Main or High); native players and recordings are unaffected`,
        );
      }
    }
    if (au.isKey) {
      this.framesSinceKey = 0;
      this.keyAtMs = atMs;
      return;
    }
    if (this.framesSinceKey === undefined) return; // no keyframe seen yet
    this.framesSinceKey++;
    const ms = atMs - this.keyAtMs;
    if (this.framesSinceKey > MAX_GOP_FRAMES || ms > MAX_GOP_MS) {
      this.warnOnce(
        'gop',
        `no keyframe for ${this.framesSinceKey} frames (${(ms / 1000).toFixed(1)} s): viewers who join wait that long for a picture; keep the intra period under ${MAX_GOP_FRAMES} frames and ${MAX_GOP_MS / 1000} s`,
      );
    }
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.warnings.push(message);
    this.logger.warn(message);
  }
}
