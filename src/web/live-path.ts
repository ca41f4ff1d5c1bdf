/**
 * Which way the live view reaches the screen in this browser, and why.
 *
 * Order: WebCodecs (secure contexts: https, localhost), else WebRTC when it
 * can receive H.264 (an iPhone on the camera's plain-http page), else Media
 * Source Extensions, or ManagedMediaSource where MediaSource is missing (iOS
 * 17.1+ has only that), else a clear message. `?path=` forces one; a forced
 * path this browser lacks gets a message too, never a blank picture.
 *
 * Pure apart from browserAbilities(), so the choice is unit-tested in Node.
 */

/** How the live view reaches the screen: the WebSocket into WebCodecs, MSE or ManagedMediaSource, or WebRTC. */
export type LivePath = 'webcodecs' | 'webrtc' | 'mse' | 'mms';

/** The paths `?path=` accepts. */
export const LIVE_PATHS: readonly LivePath[] = ['webcodecs', 'webrtc', 'mse', 'mms'];

/** What this browser offers for live video. */
export interface BrowserAbilities {
  /** `VideoDecoder` exists (WebCodecs; in most browsers only in a secure context). */
  webCodecs: boolean;
  /** `RTCPeerConnection` exists. */
  webRtc: boolean;
  /**
   * Its WebRTC can receive H.264 (RTCRtpReceiver capabilities list it); undefined when the
   * browser cannot tell. Firefox without its OpenH264 plugin has WebRTC but no H.264.
   */
  webRtcH264: boolean | undefined;
  /** `MediaSource` exists. */
  mse: boolean;
  /** `ManagedMediaSource` exists (Safari 17+, iOS 17.1+, WebKitGTK). */
  mms: boolean;
}

/** The chosen path, or none with the reason shown to the viewer. */
export interface PathChoice {
  /** undefined: this browser cannot show the live view (why says so). */
  path: LivePath | undefined;
  /** For a fallback: why the better paths were not taken. For no path: the message to show. */
  why: string;
  /** The address named the path (`?path=`). */
  forced: boolean;
}

const NO_WEBCODECS = 'WebCodecs needs a secure context such as https or localhost';

/** Reads the abilities from a window-like global object (the page's `globalThis`). */
export function browserAbilities(g: object = globalThis): BrowserAbilities {
  const w = g as Record<string, unknown>;
  const isFn = (name: string): boolean => typeof w[name] === 'function';
  let webRtcH264: boolean | undefined;
  const receiver = w.RTCRtpReceiver as { getCapabilities?: (kind: string) => RTCRtpCapabilities | null } | undefined;
  if (isFn('RTCPeerConnection') && typeof receiver?.getCapabilities === 'function') {
    try {
      const codecs = receiver.getCapabilities('video')?.codecs;
      if (codecs) webRtcH264 = codecs.some((c) => c.mimeType.toLowerCase() === 'video/h264');
    } catch {
      // cannot tell: try, and let the camera's answer decide
    }
  }
  return {
    webCodecs: isFn('VideoDecoder'),
    webRtc: isFn('RTCPeerConnection'),
    webRtcH264,
    mse: isFn('MediaSource'),
    mms: isFn('ManagedMediaSource'),
  };
}

/** The media-source path this browser has: MSE, else ManagedMediaSource, else none. */
export function mediaSourcePath(a: BrowserAbilities): 'mse' | 'mms' | undefined {
  return a.mse ? 'mse' : a.mms ? 'mms' : undefined;
}

/** Why this browser cannot use a path, or undefined when it can. */
function missing(path: LivePath, a: BrowserAbilities): string | undefined {
  switch (path) {
    case 'webcodecs':
      return a.webCodecs ? undefined : `${NO_WEBCODECS}, and this page is not one`;
    case 'webrtc':
      if (!a.webRtc) return 'this browser has no WebRTC';
      return a.webRtcH264 === false ? "this browser's WebRTC cannot receive H.264, which the camera sends" : undefined;
    case 'mse':
      return a.mse ? undefined : 'this browser has no MediaSource';
    case 'mms':
      return a.mms ? undefined : 'this browser has no ManagedMediaSource';
  }
}

/** Picks the path; see the file comment. `forced` is the `?path=` value (null when absent). */
export function choosePath(forced: string | null, a: BrowserAbilities): PathChoice {
  const named = LIVE_PATHS.find((p) => p === forced);
  if (named) {
    const lack = missing(named, a);
    return lack
      ? { path: undefined, why: `The address asks for ?path=${named}, but ${lack}.`, forced: true }
      : { path: named, why: 'chosen in the address.', forced: true };
  }
  if (a.webCodecs) return { path: 'webcodecs', why: '', forced: false };
  const noWebRtc = missing('webrtc', a);
  if (!noWebRtc) return { path: 'webrtc', why: `${NO_WEBCODECS}.`, forced: false };
  const ms = mediaSourcePath(a);
  if (ms) return { path: ms, why: `${NO_WEBCODECS}, and ${noWebRtc}.`, forced: false };
  return {
    path: undefined,
    why: `This browser cannot show the live view: ${NO_WEBCODECS}, ${noWebRtc}, and it has no Media Source Extensions.`,
    forced: false,
  };
}
