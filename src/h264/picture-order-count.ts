/**
 * Picture order count, H.264 (08/2021) clause 8.2.1: decoding process for
 * picture order count types 0 (8.2.1.1), 1 (8.2.1.2) and 2 (8.2.1.3),
 * including the state carried from picture to picture (prevPicOrderCntMsb /
 * prevPicOrderCntLsb, prevFrameNumOffset, prevFrameNum) and the reset after
 * memory_management_control_operation 5 (8.2.1, 8.2.5.4 "tempPicOrderCnt").
 *
 * Feed it the first slice header of every primary picture in decoding order.
 */
import type { SliceHeader } from './slice-header.js';
import type { SequenceParameterSet } from './sps.js';

/** The result for one picture. */
export interface PictureOrder {
  /** TopFieldOrderCnt (0 for a bottom field picture, which has none). */
  topFieldOrderCnt: number;
  /** BottomFieldOrderCnt (0 for a top field picture). */
  bottomFieldOrderCnt: number;
  /**
   * PicOrderCnt(CurrPic): Min(Top, Bottom) for a frame, the field's own count
   * for a field. After memory_management_control_operation 5 the values are
   * the reset ones (8.2.5.4: the picture becomes POC 0 for a frame), so an
   * MMCO5 picture, like an IDR picture, starts a new POC epoch.
   */
  picOrderCnt: number;
  /** True when this picture starts a new POC epoch (IDR or MMCO5). */
  pocReset: boolean;
}

/** Stateful POC decoder for one stream (clause 8.2.1). */
export class PictureOrderCounter {
  // POC type 0 state (of the previous reference picture).
  private prevPicOrderCntMsb = 0;
  private prevPicOrderCntLsb = 0;
  // POC types 1/2 state (of the previous picture).
  private prevFrameNumOffset = 0;
  private prevFrameNum = 0;
  private prevHadMmco5 = false;

  /** Forgets all state (e.g. after a stream restart); the next picture should be an IDR. */
  reset(): void {
    this.prevPicOrderCntMsb = 0;
    this.prevPicOrderCntLsb = 0;
    this.prevFrameNumOffset = 0;
    this.prevFrameNum = 0;
    this.prevHadMmco5 = false;
  }

  /** Computes the POC of the picture whose first slice header is `h`, and advances the state. */
  next(h: SliceHeader, sps: SequenceParameterSet): PictureOrder {
    let top = 0;
    let bottom = 0;
    const isRef = h.nalRefIdc !== 0;
    const field = h.fieldPicFlag;
    const bottomField = field && h.bottomFieldFlag;
    if (sps.picOrderCntType === 0) {
      let prevMsb: number;
      let prevLsb: number;
      if (h.idrPicFlag) {
        prevMsb = 0;
        prevLsb = 0;
      } else {
        prevMsb = this.prevPicOrderCntMsb;
        prevLsb = this.prevPicOrderCntLsb;
      }
      const maxLsb = sps.maxPicOrderCntLsb;
      const lsb = h.picOrderCntLsb;
      let msb: number;
      if (lsb < prevLsb && prevLsb - lsb >= maxLsb / 2) msb = prevMsb + maxLsb;
      else if (lsb > prevLsb && lsb - prevLsb > maxLsb / 2) msb = prevMsb - maxLsb;
      else msb = prevMsb;
      if (!bottomField) {
        top = msb + lsb;
        bottom = field ? 0 : top + h.deltaPicOrderCntBottom;
      } else {
        bottom = msb + lsb;
      }
      if (isRef) {
        if (h.hasMmco5) {
          // 8.2.1.1: after MMCO5, prevPicOrderCntMsb = 0 and prevPicOrderCntLsb =
          // the picture's TopFieldOrderCnt after the reset (tempPicOrderCnt subtracted), or 0 for a bottom field.
          const temp = pictureOrderCnt(field, bottomField, top, bottom);
          this.prevPicOrderCntMsb = 0;
          this.prevPicOrderCntLsb = bottomField ? 0 : top - temp;
        } else {
          this.prevPicOrderCntMsb = msb;
          this.prevPicOrderCntLsb = lsb;
        }
      }
    } else {
      // Types 1 and 2 share FrameNumOffset (8.2.1.2 / 8.2.1.3).
      const prevFrameNumOffset = this.prevHadMmco5 ? 0 : this.prevFrameNumOffset;
      let frameNumOffset: number;
      if (h.idrPicFlag) frameNumOffset = 0;
      else if (this.prevFrameNum > h.frameNum) frameNumOffset = prevFrameNumOffset + sps.maxFrameNum;
      else frameNumOffset = prevFrameNumOffset;

      if (sps.picOrderCntType === 1) {
        const cycle = sps.numRefFramesInPicOrderCntCycle;
        let absFrameNum = cycle !== 0 ? frameNumOffset + h.frameNum : 0;
        if (!isRef && absFrameNum > 0) absFrameNum -= 1;
        let expected = 0;
        if (absFrameNum > 0) {
          let expectedDeltaPerCycle = 0;
          for (const o of sps.offsetForRefFrame) expectedDeltaPerCycle += o;
          const cycleCnt = Math.floor((absFrameNum - 1) / cycle);
          const frameNumInCycle = (absFrameNum - 1) % cycle;
          expected = cycleCnt * expectedDeltaPerCycle;
          for (let i = 0; i <= frameNumInCycle; i++) expected += sps.offsetForRefFrame[i] as number;
        }
        if (!isRef) expected += sps.offsetForNonRefPic;
        if (!field) {
          top = expected + h.deltaPicOrderCnt[0];
          bottom = top + sps.offsetForTopToBottomField + h.deltaPicOrderCnt[1];
        } else if (!bottomField) {
          top = expected + h.deltaPicOrderCnt[0];
        } else {
          bottom = expected + sps.offsetForTopToBottomField + h.deltaPicOrderCnt[0];
        }
      } else {
        let temp: number;
        if (h.idrPicFlag) temp = 0;
        else if (!isRef) temp = 2 * (frameNumOffset + h.frameNum) - 1;
        else temp = 2 * (frameNumOffset + h.frameNum);
        if (!field) {
          top = temp;
          bottom = temp;
        } else if (!bottomField) top = temp;
        else bottom = temp;
      }
      this.prevFrameNumOffset = frameNumOffset;
      // After MMCO5 the picture's frame_num is taken as 0 (7.4.3) for the next picture's wrap test.
      this.prevFrameNum = h.hasMmco5 ? 0 : h.frameNum;
      this.prevHadMmco5 = h.hasMmco5;
    }

    let poc = pictureOrderCnt(field, bottomField, top, bottom);
    if (h.hasMmco5) {
      // 8.2.5.4 / 8.2.1: after MMCO5 the picture's counts are relative to itself.
      top -= poc;
      bottom -= poc;
      poc = 0;
      if (field) {
        if (bottomField) top = 0;
        else bottom = 0;
      }
    }
    return {
      topFieldOrderCnt: top,
      bottomFieldOrderCnt: bottom,
      picOrderCnt: poc,
      pocReset: h.idrPicFlag || h.hasMmco5,
    };
  }
}

/** PicOrderCnt() of 8.2.1 (equation 8-1). */
function pictureOrderCnt(field: boolean, bottomField: boolean, top: number, bottom: number): number {
  if (!field) return Math.min(top, bottom);
  return bottomField ? bottom : top;
}
