/**
 * Picture parameter set, H.264 clause 7.3.2.2 / 7.4.2.2.
 *
 * PLACEHOLDER INTERFACE: the parser is being written; the field names below
 * are fixed and used by other layers.
 */

/** A parsed picture parameter set. */
export interface PictureParameterSet {
  ppsId: number;
  spsId: number;
  entropyCodingModeFlag: boolean;
}
