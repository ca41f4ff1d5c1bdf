/**
 * Sequence parameter set, H.264 clause 7.3.2.1.1 (syntax) and 7.4.2.1.1
 * (semantics); VUI in Annex E.1.1.
 *
 * PLACEHOLDER INTERFACE: the parser is being written; the field names below
 * are fixed and used by other layers.
 */

/** A parsed sequence parameter set. Sizes in pixels, after cropping unless named coded*. */
export interface SequenceParameterSet {
  spsId: number;
  profileIdc: number;
  /** constraint_set0..5 flags and reserved bits: the byte after profile_idc. */
  constraintFlags: number;
  levelIdc: number;
  chromaFormatIdc: number;
  bitDepthLuma: number;
  bitDepthChroma: number;
  /** Display size after frame cropping. */
  width: number;
  height: number;
  /** Size of the decoded picture before cropping (macroblock multiple). */
  codedWidth: number;
  codedHeight: number;
  frameMbsOnly: boolean;
  /** Sample aspect ratio from VUI, null when absent/unspecified. */
  sar: [number, number] | null;
  /** Frame rate from VUI timing (time_scale / (2 * num_units_in_tick)), null without timing info. */
  fps: number | null;
}
