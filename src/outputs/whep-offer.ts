/**
 * Reads a WHEP viewer's SDP offer (RFC 8866 text from an untrusted client):
 * the video section's mid and the H.264 payload types it can receive, and
 * picks the one for our stream. H.264 goes out as the camera encoded it, so
 * the browser must take the stream's profile: an offer without it is
 * refused with a clear error, never answered with something it cannot
 * decode.
 */

/** One H.264 format of the offer's video section. */
export interface OfferedH264 {
  payloadType: number;
  /** The fmtp parameters as offered ("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"). */
  fmtp: string;
  /** profile_idc, profile-iop (constraint flags) and level_idc from profile-level-id. */
  profileIdc: number;
  profileIop: number;
  levelIdc: number;
  packetizationMode: number;
}

/** What the answer needs from the offer. */
export interface WhepOffer {
  /** mid of the first video section. */
  videoMid: string;
  h264: OfferedH264[];
  /** mid of an application (data channel) section, when the viewer asked for one. */
  applicationMid: string | undefined;
  /** The id the offer gives the playout-delay RTP header extension in its video section (1-14), if any. */
  playoutDelayId: number | undefined;
}

/** The playout-delay RTP header extension (libwebrtc's; Chromium offers it): how long a receiver may buffer. */
export const PLAYOUT_DELAY_URI = 'http://www.webrtc.org/experiments/rtp-hdrext/playout-delay';

/** The offer cannot be answered: the message says why (shown to the viewer). */
export class WhepOfferError extends Error {}

/** Longest offer read (a browser's offer is 3-10 KB). */
export const MAX_OFFER_BYTES = 64 * 1024;

const TOKEN = /^[A-Za-z0-9_.+/=-]{1,64}$/;

/** Parses the parts of `sdp` the answer needs; throws {@link WhepOfferError} for anything unusable. */
export function parseWhepOffer(sdp: string): WhepOffer {
  if (!sdp.startsWith('v=0')) throw new WhepOfferError('the body is not an SDP offer (it must start with v=0)');
  let section: 'session' | 'video' | 'application' | 'other' = 'session';
  let videoMid: string | undefined;
  let applicationMid: string | undefined;
  let seenVideo = false;
  let inFirstVideo = false;
  let playoutDelayId: number | undefined;
  const rtpmap = new Map<number, string>();
  const fmtp = new Map<number, string>();
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) {
      section = line.startsWith('m=video ') ? 'video' : line.startsWith('m=application ') ? 'application' : 'other';
      inFirstVideo = section === 'video' && !seenVideo;
      if (section === 'video') seenVideo = true;
      continue;
    }
    const mid = /^a=mid:(.+)$/.exec(line)?.[1];
    if (mid !== undefined) {
      if (!TOKEN.test(mid)) throw new WhepOfferError('the offer has an unusable a=mid');
      if (inFirstVideo) videoMid = mid;
      else if (section === 'application' && applicationMid === undefined) applicationMid = mid;
      continue;
    }
    if (!inFirstVideo) continue;
    const map = /^a=rtpmap:(\d{1,3}) ([A-Za-z0-9-]+)\/90000/.exec(line);
    if (map) rtpmap.set(Number(map[1]), (map[2] as string).toUpperCase());
    const params = /^a=fmtp:(\d{1,3}) ([\x21-\x7e]{1,512})$/.exec(line);
    if (params) fmtp.set(Number(params[1]), params[2] as string);
    // One-byte header ids only (1-14): the packetizer writes that form.
    const ext = /^a=extmap:(\d{1,2})(?:\/[a-z]+)? (\S+)$/.exec(line);
    if (ext && ext[2] === PLAYOUT_DELAY_URI) {
      const id = Number(ext[1]);
      if (id >= 1 && id <= 14) playoutDelayId = id;
    }
  }
  if (!seenVideo || videoMid === undefined)
    throw new WhepOfferError('the offer asks for no video (no m=video with a=mid)');
  const h264: OfferedH264[] = [];
  for (const [payloadType, codec] of rtpmap) {
    if (codec !== 'H264' || payloadType < 96 || payloadType > 127) continue;
    const f = fmtp.get(payloadType) ?? '';
    const plid = /(?:^|;)\s*profile-level-id=([0-9a-fA-F]{6})/.exec(f)?.[1] ?? '42001f'; // RFC 6184 default
    const mode = Number(/(?:^|;)\s*packetization-mode=([0-2])/.exec(f)?.[1] ?? '0');
    h264.push({
      payloadType,
      fmtp: f,
      profileIdc: Number.parseInt(plid.slice(0, 2), 16),
      profileIop: Number.parseInt(plid.slice(2, 4), 16),
      levelIdc: Number.parseInt(plid.slice(4, 6), 16),
      packetizationMode: mode,
    });
  }
  return { videoMid, h264, applicationMid, playoutDelayId };
}

/** The stream's profile as in its SPS (profile_idc, the constraint flags byte, level_idc). */
export interface StreamProfile {
  profileIdc: number;
  constraintFlags: number;
  levelIdc: number;
}

/** The stream's profile from its RFC 6381 codec string ("avc1.42c01e"). */
export function profileOfCodec(codec: string): StreamProfile {
  const hex = /^avc1\.([0-9a-fA-F]{6})$/.exec(codec)?.[1];
  if (!hex) throw new WhepOfferError(`the stream's codec ${codec} is not H.264`);
  return {
    profileIdc: Number.parseInt(hex.slice(0, 2), 16),
    constraintFlags: Number.parseInt(hex.slice(2, 4), 16),
    levelIdc: Number.parseInt(hex.slice(4, 6), 16),
  };
}

const PROFILE_NAMES: Record<number, string> = { 66: 'Baseline', 77: 'Main', 88: 'Extended', 100: 'High' };

/**
 * The offered format to send the stream in: packetization-mode 1 (FU-A and
 * STAP-A, RFC 6184) and the stream's profile. A Constrained Baseline stream
 * (constraint_set1) also fits a receiver of Main or High, whose decoders
 * take it (A.2.1.1). The level is not matched: the receiver's offer is what
 * it can decode, and browsers decode every level a camera sends.
 */
export function chooseH264(offer: WhepOffer, stream: StreamProfile): OfferedH264 {
  const usable = offer.h264.filter((f) => f.packetizationMode === 1);
  if (usable.length === 0) throw new WhepOfferError('the viewer offers no H.264 with packetization-mode=1');
  const constrainedBaseline = stream.profileIdc === 66 && (stream.constraintFlags & 0x40) !== 0;
  const rank = (f: OfferedH264): number => {
    if (f.profileIdc === stream.profileIdc) {
      // Same profile; prefer the same constraint flags (42e0 for a 42e0/42c0 stream).
      return (f.profileIop & 0x40) === (stream.constraintFlags & 0x40) ? 0 : 1;
    }
    if (constrainedBaseline && (f.profileIdc === 77 || f.profileIdc === 100)) return 2;
    return -1;
  };
  const ranked = usable.filter((f) => rank(f) >= 0).sort((a, b) => rank(a) - rank(b));
  const chosen = ranked[0];
  if (!chosen) {
    const name = PROFILE_NAMES[stream.profileIdc] ?? `profile ${stream.profileIdc}`;
    throw new WhepOfferError(
      `the viewer cannot receive the camera's H.264 ${name} profile (no transcoding on the camera)`,
    );
  }
  return chosen;
}
