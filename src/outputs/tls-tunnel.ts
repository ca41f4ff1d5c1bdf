/**
 * TLS for `rtsps://` publishing, done by Node because ffmpeg 5.1's RTSP
 * client never verifies the server's certificate (it ignores `-tls_verify`).
 * The tunnel first connects to the server with TLS and verifies its
 * certificate chain and name (the system's CAs or `publishCa`), and only then
 * listens on a loopback port for the one connection of the publisher's
 * ffmpeg, which speaks plain RTSP through it. A server that fails
 * verification is never sent a byte of RTSP, credentials included.
 *
 * The loopback port takes exactly one connection and closes at once; the
 * tunnel ends when either side does.
 */
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

/** Why the tunnel could not be opened. */
export class TlsTunnelError extends Error {
  constructor(
    readonly kind: 'tls' | 'connect',
    message: string,
  ) {
    super(message);
  }
}

/** An open tunnel: ffmpeg connects to 127.0.0.1:`port`. */
export interface TlsTunnel {
  readonly port: number;
  /** Called once when the tunnel ends (either side closed, or an error). */
  onClose(cb: (error: Error | undefined) => void): void;
  close(): void;
}

/** Node's codes for a certificate that does not verify (chain, dates, name). */
const CERT_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME|HOSTNAME|EXPIRED|NOT_YET_VALID|ERR_SSL|ERR_TLS/;

/** Connects and verifies, then listens on loopback for the local side. Rejects with TlsTunnelError. */
export async function openTlsTunnel(options: {
  host: string;
  port: number;
  /** PEM CA certificates; undefined: the system's. */
  ca?: string | Buffer | undefined;
  timeoutMs?: number;
}): Promise<TlsTunnel> {
  const host = options.host.replace(/^\[(.*)\]$/, '$1');
  const remote: TLSSocket = await new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host,
      port: options.port,
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
      rejectUnauthorized: true,
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TlsTunnelError('connect', `timed out connecting to ${options.host}:${options.port}`));
    }, options.timeoutMs ?? 10_000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.pause(); // nothing is read until ffmpeg is there to take it
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      const code = err.code ?? '';
      if (CERT_CODES.test(code))
        reject(new TlsTunnelError('tls', `the server's certificate did not verify: ${err.message} (${code})`));
      else reject(new TlsTunnelError('connect', `${err.message}${code ? ` (${code})` : ''}`));
    });
  });

  let closed = false;
  let local: Socket | undefined;
  let closeCb: ((error: Error | undefined) => void) | undefined;
  let closeError: Error | undefined;
  const server: Server = createServer();
  const end = (error?: Error): void => {
    if (closed) return;
    closed = true;
    closeError = error;
    server.close();
    remote.destroy();
    local?.destroy();
    closeCb?.(error);
  };
  remote.on('error', (err) => end(err));
  remote.on('close', () => end());
  server.on('connection', (socket) => {
    // One connection, from this machine: the publisher's ffmpeg. Any other is refused.
    if (local || closed) {
      socket.destroy();
      return;
    }
    local = socket;
    server.close();
    socket.on('error', (err) => end(err));
    socket.on('close', () => end());
    socket.pipe(remote);
    remote.pipe(socket);
    remote.resume();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    onClose(cb) {
      if (closed) cb(closeError);
      else closeCb = cb;
    },
    close: () => end(),
  };
}
