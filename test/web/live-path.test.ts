/**
 * The live page's choice of path (src/web/live-path.ts) for the browsers met
 * in the engine tests and on phones: WebCodecs first, then WebRTC with H.264,
 * then MediaSource or ManagedMediaSource, else a message; `?path=` forces one
 * and says so when this browser lacks it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { browserAbilities, choosePath, type BrowserAbilities } from '../../src/web/live-path.js';

const none: BrowserAbilities = { webCodecs: false, webRtc: false, webRtcH264: undefined, mse: false, mms: false };
const chromiumLocal: BrowserAbilities = { ...none, webRtc: true, webRtcH264: true, mse: true };
const firefoxLocal: BrowserAbilities = { ...none, webRtc: true, webRtcH264: false, mse: true };
const iphone: BrowserAbilities = { ...none, webRtc: true, webRtcH264: true, mms: true };
const iphoneNoWebRtc: BrowserAbilities = { ...none, mms: true };

describe('choosePath', () => {
  it('takes WebCodecs whenever the browser has it', () => {
    assert.deepEqual(choosePath(null, { ...chromiumLocal, webCodecs: true }), {
      path: 'webcodecs',
      why: '',
      forced: false,
    });
  });

  it('takes WebRTC without WebCodecs, when it can receive H.264', () => {
    const c = choosePath(null, chromiumLocal);
    assert.equal(c.path, 'webrtc');
    assert.match(c.why, /WebCodecs needs a secure context/);
    assert.equal(choosePath(null, iphone).path, 'webrtc');
    // A browser that cannot tell its codecs gets to try (the camera's answer decides).
    assert.equal(choosePath(null, { ...chromiumLocal, webRtcH264: undefined }).path, 'webrtc');
  });

  it('falls back to MSE when WebRTC has no H.264, and says so', () => {
    const c = choosePath(null, firefoxLocal);
    assert.equal(c.path, 'mse');
    assert.match(c.why, /WebRTC cannot receive H\.264/);
  });

  it('uses ManagedMediaSource where MediaSource is missing (iOS 17.1+)', () => {
    const c = choosePath(null, iphoneNoWebRtc);
    assert.equal(c.path, 'mms');
    assert.match(c.why, /no WebRTC/);
    // Both present: plain MSE.
    assert.equal(choosePath(null, { ...iphoneNoWebRtc, mse: true }).path, 'mse');
  });

  it('says clearly when nothing can play', () => {
    const c = choosePath(null, { ...firefoxLocal, mse: false });
    assert.equal(c.path, undefined);
    assert.match(c.why, /^This browser cannot show the live view: .*cannot receive H\.264.*no Media Source Extensions/);
    assert.equal(choosePath(null, none).path, undefined);
  });

  it('follows ?path= when the browser has it, and names what is missing when not', () => {
    assert.deepEqual(choosePath('mms', iphone), { path: 'mms', why: 'chosen in the address.', forced: true });
    assert.equal(choosePath('mse', chromiumLocal).path, 'mse');
    assert.equal(choosePath('webrtc', { ...chromiumLocal, webCodecs: true }).path, 'webrtc');
    const cases: [string, BrowserAbilities, RegExp][] = [
      ['mms', chromiumLocal, /\?path=mms, but this browser has no ManagedMediaSource/],
      ['mse', iphone, /\?path=mse, but this browser has no MediaSource/],
      ['webrtc', firefoxLocal, /\?path=webrtc, but this browser's WebRTC cannot receive H\.264/],
      ['webrtc', iphoneNoWebRtc, /has no WebRTC/],
      ['webcodecs', chromiumLocal, /secure context/],
    ];
    for (const [forced, abilities, message] of cases) {
      const c = choosePath(forced, abilities);
      assert.equal(c.path, undefined, forced);
      assert.equal(c.forced, true);
      assert.match(c.why, message);
    }
    // Anything else in ?path= is ignored: the automatic choice.
    assert.deepEqual(choosePath('<script>', chromiumLocal), choosePath(null, chromiumLocal));
  });
});

describe('browserAbilities', () => {
  it('reads constructors and the receiver codecs from a window-like object', () => {
    const fn = (): void => undefined;
    const receiver = (mimeTypes: string[]) => ({
      getCapabilities: (kind: string) =>
        kind === 'video' ? { codecs: mimeTypes.map((mimeType) => ({ mimeType })) } : null,
    });
    assert.deepEqual(
      browserAbilities({
        RTCPeerConnection: fn,
        RTCRtpReceiver: receiver(['video/VP8', 'video/H264']),
        MediaSource: fn,
      }),
      { webCodecs: false, webRtc: true, webRtcH264: true, mse: true, mms: false },
    );
    assert.equal(
      browserAbilities({ RTCPeerConnection: fn, RTCRtpReceiver: receiver(['video/VP8', 'video/AV1']) }).webRtcH264,
      false,
    );
    assert.deepEqual(browserAbilities({ VideoDecoder: fn, ManagedMediaSource: fn }), {
      webCodecs: true,
      webRtc: false,
      webRtcH264: undefined,
      mse: false,
      mms: true,
    });
    const throwing = {
      RTCPeerConnection: fn,
      RTCRtpReceiver: {
        getCapabilities: () => {
          throw new Error('no');
        },
      },
    };
    assert.equal(browserAbilities(throwing).webRtcH264, undefined);
    // Node itself: none of them.
    assert.deepEqual(browserAbilities(), none);
  });
});
