/**
 * The live page in Debian's Firefox ESR (puppeteer-core over WebDriver BiDi)
 * against a real `rearview serve`: engine-suite.ts, with Firefox's findings
 * (docs/web.md). Its WebRTC has no H.264 here (no OpenH264 plugin), so on the
 * camera's `.local` name it falls back to MSE and says why.
 */
import { launchFirefoxEngine } from './browser-engines.js';
import { engineSuite } from './engine-suite.js';

engineSuite(() => launchFirefoxEngine(), {
  findings: {
    loopback: {
      RTCPeerConnection: 'function',
      VideoDecoder: 'function',
      MediaSource: 'function',
      ManagedMediaSource: false,
      isSecureContext: true,
      webRtcH264: false,
    },
    local: {
      RTCPeerConnection: 'function',
      VideoDecoder: 'undefined',
      MediaSource: 'function',
      ManagedMediaSource: false,
      isSecureContext: false,
      webRtcH264: false,
    },
  },
  plays: ['webcodecs', 'mse'],
  refuses: {
    webrtc: /\?path=webrtc, but this browser's WebRTC cannot receive H\.264/,
    mms: /\?path=mms, but this browser has no ManagedMediaSource/,
  },
  auto: { path: 'mse', note: /WebRTC cannot receive H\.264/ },
  iphone: { keepManaged: false, message: /cannot show the live view: .*WebRTC cannot receive H\.264/ },
  ride: { path: 'mse', iphone: { message: /plays neither HLS nor MediaSource nor ManagedMediaSource/ } },
});
