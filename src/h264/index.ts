/**
 * The public API of the H.264 bitstream library (`rearview/h264`): pure
 * code with no `node:` imports, usable unchanged in Node and the browser.
 * Re-exports every module of src/h264.
 */
export * from './access-unit-assembler.js';
export * from './access-unit.js';
export * from './annexb-scanner.js';
export * from './avcc.js';
export * from './bit-reader.js';
export * from './capture-time-sei.js';
export * from './codec-string.js';
export * from './h264-stream-parser.js';
export * from './nal-unit.js';
export * from './picture-order-count.js';
export * from './pps.js';
export * from './rbsp.js';
export * from './sei.js';
export * from './slice-header.js';
export * from './sps.js';
/** The typed error every parser here raises (`code` is ERR_H264_*). */
export { H264Error, RearviewError, hasCode } from '../errors.js';
