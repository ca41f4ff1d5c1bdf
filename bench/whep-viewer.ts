/**
 * Helper process of engine-latency-bench: one WebRTC viewer without a browser
 * (node-datachannel, a recvonly H.264 offer to WHEP), printing the RTP packets
 * received so far every 250 ms on stdout. One process per viewer: several
 * node-datachannel receivers in one Node process stopped receiving here after
 * a few hundred packets of a 720p 8 Mbit/s stream (the last one created kept
 * going), while the same viewers in separate processes all received it.
 * Usage: node whep-viewer.js API_PORT
 */
import ndc from 'node-datachannel';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error('usage: whep-viewer API_PORT');
const base = `http://127.0.0.1:${port}`;
let packets = 0;

/** Makes the offer, posts it, applies the answer; the WHEP session's location. */
async function connect(pc: ndc.PeerConnection): Promise<string> {
  const video = new ndc.Video('0', 'RecvOnly');
  // High profile receivers take the 720p High stream and the Constrained Baseline sample alike.
  video.addH264Codec(102, 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f');
  const track = pc.addTrack(video);
  track.onMessage(() => packets++);
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
  if (res.status !== 201) throw new Error(`WHEP offer refused: ${res.status} ${await res.text()}`);
  const location = res.headers.get('location') ?? '';
  try {
    pc.setRemoteDescription(await res.text(), 'answer');
  } catch (err) {
    await fetch(base + location, { method: 'DELETE' }).catch(() => undefined);
    throw err;
  }
  return location;
}

// libdatachannel here sometimes refuses the answer ("Got a remote candidate without ICE
// transport") when the machine is busy: a new peer connection is tried, and the attempt is said.
let pc: ndc.PeerConnection | undefined;
let location = '';
for (let attempt = 1; ; attempt++) {
  pc = new ndc.PeerConnection('bench-viewer', { iceServers: [] });
  try {
    location = await connect(pc);
    break;
  } catch (err) {
    pc.close();
    process.stderr.write(`whep-viewer: attempt ${attempt} failed: ${(err as Error).message}\n`);
    if (attempt === 3) process.exit(1);
  }
}
const timer = setInterval(() => process.stdout.write(`${packets}\n`), 250);
const stop = async (): Promise<void> => {
  clearInterval(timer);
  await fetch(base + location, { method: 'DELETE' }).catch(() => undefined);
  pc?.close();
  // node-datachannel's threads keep the process alive after the peer is closed.
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.resume();
