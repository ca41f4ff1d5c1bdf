/**
 * The live page in Debian's WebKitGTK (MiniBrowser under Xvfb, through
 * WebKitWebDriver) against a real `rearview serve`: engine-suite.ts, with
 * WebKitGTK's findings (docs/web.md). It has no WebRTC, WebCodecs even on the
 * non-secure `.local` name, and ManagedMediaSource; its iPhone-like page keeps
 * ManagedMediaSource (as iOS 17.1+) and plays through it.
 */
import { launchWebKitEngine } from './browser-engines.js';
import { engineSuite } from './engine-suite.js';

engineSuite((proxy) => launchWebKitEngine(proxy), {
  findings: {
    loopback: {
      RTCPeerConnection: 'undefined',
      VideoDecoder: 'function',
      MediaSource: 'function',
      ManagedMediaSource: true,
      isSecureContext: true,
      webRtcH264: null,
    },
    local: {
      RTCPeerConnection: 'undefined',
      VideoDecoder: 'function',
      MediaSource: 'function',
      ManagedMediaSource: true,
      isSecureContext: false,
      webRtcH264: null,
    },
  },
  plays: ['webcodecs', 'mse', 'mms'],
  refuses: { webrtc: /\?path=webrtc, but this browser has no WebRTC/ },
  auto: { path: 'webcodecs', note: /WebCodecs/ },
  iphone: { keepManaged: true, path: 'mms' },
  // MSE, and on the iPhone-like page ManagedMediaSource. Capture stalls of the recording are no holes
  // for it since the rides' init sections carry a slow VUI clock (docs/web.md, "Rides").
  ride: { path: 'mse', iphone: { path: 'mms' } },
});
