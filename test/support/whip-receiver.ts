/**
 * A minimal WHIP endpoint (RFC 9725) for the publishing tests, run as its
 * own process so a test can kill it like a server that dies:
 *
 *   node whip-receiver.js HTTP_PORT RTP_PORT [TOKEN]
 *
 * POST /whip/cam with an SDP offer (and `Authorization: Bearer TOKEN` when a
 * token is given, else 401) is answered 201 by node-datachannel (all ICE
 * candidates in the answer) with Location /whip/cam/session/N; every RTP
 * packet that arrives is forwarded as it is to 127.0.0.1:RTP_PORT over UDP,
 * where ffmpeg depacketizes and decodes it (startWhipReceiver). DELETE on
 * the Location ends the session. A line "pli" on stdin sends a picture loss
 * indication. Events go to stdout, one line each: `listening`, `offer`,
 * `unauthorized`, `connected`, `pli-sent`, `deleted N`.
 *
 * No third-party WHIP server installs on the test machines (Debian's
 * simple-whip-server needs Debian's nodejs, which conflicts with the Node
 * the project runs on; GStreamer's WHIP elements are in gst-plugins-rs,
 * not packaged in Debian 12), so this stands in, built on another use of
 * the same WebRTC library; the decoding is ffmpeg's (its RTP H.264
 * depacketizer and decoder).
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import ndc from 'node-datachannel';

const [httpPortText, rtpPortText, token] = process.argv.slice(2);
const rtpPort = Number(rtpPortText);
const udp = createSocket('udp4');
type Pc = InstanceType<typeof ndc.PeerConnection>;
type Track = ReturnType<Pc['addTrack']>;
const sessions = new Map<string, { pc: Pc; track: Track | undefined }>();
let next = 0;

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (token !== undefined && req.headers.authorization !== `Bearer ${token}`) {
      say('unauthorized');
      res.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
      return;
    }
    const session = /^\/whip\/cam\/session\/(\d+)$/.exec(req.url ?? '')?.[1];
    if (req.method === 'DELETE' && session !== undefined) {
      const s = sessions.get(session);
      if (!s) {
        res.writeHead(404).end();
        return;
      }
      sessions.delete(session);
      s.pc.close();
      say(`deleted ${session}`);
      res.writeHead(200).end();
      return;
    }
    if (req.method !== 'POST' || req.url !== '/whip/cam' || req.headers['content-type'] !== 'application/sdp') {
      res.writeHead(400).end();
      return;
    }
    say('offer');
    const id = String(next++);
    const pc = new ndc.PeerConnection(`receiver-${id}`, { iceServers: [] });
    const entry: { pc: Pc; track: Track | undefined } = { pc, track: undefined };
    sessions.set(id, entry);
    pc.onTrack((track) => {
      entry.track = track;
      // Sends receiver reports and, on request, the PLI (RtcpReceivingSession.requestKeyframe).
      track.setMediaHandler(new ndc.RtcpReceivingSession());
      track.onOpen(() => say('connected'));
      track.onMessage((packet) => {
        // RTCP (payload types 200-206 in the second byte) stays here; RTP goes to ffmpeg.
        const pt = (packet[1] ?? 0) & 0x7f;
        if (pt >= 72 && pt <= 79) return;
        udp.send(packet, rtpPort, '127.0.0.1');
      });
    });
    pc.onGatheringStateChange((state) => {
      if (state !== 'complete') return;
      const answer = pc.localDescription()?.sdp ?? '';
      res.writeHead(201, { 'content-type': 'application/sdp', location: `/whip/cam/session/${id}` }).end(answer);
    });
    pc.setRemoteDescription(Buffer.concat(chunks).toString(), 'offer');
  });
});
server.listen(Number(httpPortText), '127.0.0.1', () => say('listening'));

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'pli') return;
  for (const s of sessions.values()) if (s.track?.requestKeyframe()) say('pli-sent');
});
