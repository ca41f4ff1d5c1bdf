/**
 * Child process of webrtc-slow-viewer.test.ts: one WHEP viewer (node-datachannel,
 * recvonly H.264, libdatachannel's RtcpReceivingSession so it sends receiver
 * reports as a browser does) that prints one line per RTP picture it receives:
 * `P <rtp time> <1 if it holds an IDR slice, else 0> <first seq> <last seq>`,
 * and `L <session location>` once answered. Its own process, so the test can
 * stop it with SIGSTOP (a viewer that stops reading: its socket buffer fills
 * and the kernel drops the rest) and because several node-datachannel receivers
 * in one process stop receiving (bench/whep-viewer.ts).
 * Usage: node whep-rtp-viewer.js API_PORT
 */
import ndc from 'node-datachannel';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error('usage: whep-rtp-viewer API_PORT');
const base = `http://127.0.0.1:${port}`;

/** True when an RFC 6184 payload holds an IDR slice (single NAL unit, STAP-A or FU-A). */
function carriesIdr(payload: Buffer): boolean {
  const type = (payload[0] ?? 0) & 0x1f;
  if (type === 5) return true;
  if (type === 28) return ((payload[1] ?? 0) & 0x1f) === 5;
  if (type === 24) {
    for (let at = 1; at + 2 < payload.length; at += 2 + payload.readUInt16BE(at))
      if (((payload[at + 2] ?? 0) & 0x1f) === 5) return true;
  }
  return false;
}

const tracks: ndc.Track[] = [];
let picture: { ts: number; key: boolean; first: number; last: number } | undefined;
const flush = (): void => {
  if (picture) process.stdout.write(`P ${picture.ts} ${picture.key ? 1 : 0} ${picture.first} ${picture.last}\n`);
};

/** Makes the offer, posts it, applies the answer; the WHEP session's location. */
async function connect(pc: ndc.PeerConnection): Promise<string> {
  const video = new ndc.Video('0', 'RecvOnly');
  video.addH264Codec(102, 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f');
  const track = pc.addTrack(video);
  // Held for the life of the process: a collected Track object stops its callbacks (no more packets).
  tracks.push(track);
  track.setMediaHandler(new ndc.RtcpReceivingSession());
  track.onMessage((packet) => {
    const type = packet[1] ?? 0;
    if (packet.length < 12 || (type >= 200 && type <= 207)) return; // RTCP
    let at = 12 + 4 * ((packet[0] ?? 0) & 0x0f);
    if ((packet[0] ?? 0) & 0x10) at += 4 + 4 * packet.readUInt16BE(at + 2);
    const ts = packet.readUInt32BE(4);
    const seq = packet.readUInt16BE(2);
    if (!picture || picture.ts !== ts) {
      flush();
      picture = { ts, key: false, first: seq, last: seq };
    }
    picture.last = seq;
    if (carriesIdr(packet.subarray(at))) picture.key = true;
  });
  const gathered = new Promise<void>((resolve) =>
    pc.onGatheringStateChange((state) => {
      if (state === 'complete') resolve();
    }),
  );
  pc.setLocalDescription();
  if (pc.gatheringState() !== 'complete') await gathered;
  const res = await fetch(`${base}/api/v1/whep`, {
    method: 'POST',
    headers: { 'content-type': 'application/sdp' },
    body: pc.localDescription()?.sdp ?? '',
  });
  if (res.status !== 201) throw new Error(`offer refused: ${res.status} ${await res.text()}`);
  const location = res.headers.get('location') ?? '';
  try {
    pc.setRemoteDescription(await res.text(), 'answer');
  } catch (err) {
    await fetch(base + location, { method: 'DELETE' }).catch(() => undefined);
    throw err;
  }
  return location;
}

// libdatachannel sometimes refuses the answer on a busy machine ("Got a remote candidate without ICE
// transport", bench/whep-viewer.ts): a new peer connection is tried, and the attempt is said.
let pc: ndc.PeerConnection | undefined;
for (let attempt = 1; ; attempt++) {
  pc = new ndc.PeerConnection('slow-viewer', { iceServers: [] });
  try {
    process.stdout.write(`L ${await connect(pc)}\n`);
    break;
  } catch (err) {
    pc.close();
    process.stderr.write(`whep-rtp-viewer: attempt ${attempt} failed: ${(err as Error).message}\n`);
    if (attempt === 3) process.exit(1);
  }
}
// The test ends this process with SIGKILL.
process.on('SIGTERM', () => {
  pc?.close();
  process.exit(0);
});
