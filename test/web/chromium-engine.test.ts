/**
 * The live page in Debian's Chromium (playwright-core) against a real
 * `rearview serve`: engine-suite.ts, with Chromium's findings (docs/web.md).
 * Also: a browser whose WebRTC offers no H.264 and cannot say so beforehand
 * gets the camera's refusal and falls back to MSE, saying why.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { launchChromiumEngine } from './browser-engines.js';
import { engineSuite } from './engine-suite.js';

/**
 * Chromium made to look like a browser whose WebRTC has no H.264 but does not list its codecs:
 * no WebCodecs, no RTCRtpReceiver.getCapabilities, and video transceivers that prefer every codec but H.264.
 */
const NO_H264_WEBRTC = `(() => {
  const capabilities = RTCRtpReceiver.getCapabilities.bind(RTCRtpReceiver);
  delete RTCRtpReceiver.getCapabilities;
  delete window.VideoDecoder;
  const addTransceiver = RTCPeerConnection.prototype.addTransceiver;
  RTCPeerConnection.prototype.addTransceiver = function (...args) {
    const transceiver = addTransceiver.apply(this, args);
    if (args[0] === 'video')
      transceiver.setCodecPreferences(capabilities('video').codecs.filter((c) => !/h264/i.test(c.mimeType)));
    return transceiver;
  };
})();`;

engineSuite(
  () => launchChromiumEngine(),
  {
    findings: {
      loopback: {
        RTCPeerConnection: 'function',
        VideoDecoder: 'function',
        MediaSource: 'function',
        ManagedMediaSource: false,
        isSecureContext: true,
        webRtcH264: true,
      },
      local: {
        RTCPeerConnection: 'function',
        VideoDecoder: 'undefined',
        MediaSource: 'function',
        ManagedMediaSource: false,
        isSecureContext: false,
        webRtcH264: true,
      },
    },
    plays: ['webcodecs', 'webrtc', 'mse'],
    refuses: { mms: /\?path=mms, but this browser has no ManagedMediaSource/ },
    auto: { path: 'webrtc', note: /WebCodecs needs a secure context/ },
    iphone: { keepManaged: false, path: 'webrtc' },
    // On the iPhone-like page its own HLS player (a ride being recorded, as snapshots).
    ride: { path: 'mse', iphone: { path: 'hls' } },
  },
  ({ open, local, expectPlays }) => {
    it('falls back to MSE when the camera refuses an offer without H.264', async (t) => {
      const page = await open(local(''), NO_H264_WEBRTC);
      await expectPlays(page, 'mse', t);
      const note = await page.evaluate<string>(`document.getElementById('path-note').textContent`);
      assert.match(note, /fallback: WebRTC: the viewer offers no H\.264/);
    });
  },
);
