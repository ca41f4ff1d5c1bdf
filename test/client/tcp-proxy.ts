/**
 * A TCP proxy for tests that need a connection to die in the middle:
 * `cutAll()` destroys every open connection (a Wi-Fi drop as the client sees
 * it), `cutAfterBytes` ends each connection after that many bytes from the
 * server (a download cut mid-way).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

/** A running proxy. */
export interface TcpProxy {
  port: number;
  /** Connections accepted so far. */
  connections: number;
  /** Destroys every open connection (both sides). */
  cutAll(): void;
  /** Cut each new connection after this many server-to-client bytes (undefined: never). */
  cutAfterBytes: number | undefined;
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1 (free port) forwarding to `targetPort`. */
export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const open = new Set<Socket>();
  const proxy: TcpProxy = {
    port: 0,
    connections: 0,
    cutAfterBytes: undefined,
    cutAll() {
      for (const s of open) s.destroy();
      open.clear();
    },
    close: async () => {
      proxy.cutAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((client) => {
    proxy.connections++;
    const upstream = connect({ port: targetPort, host: targetHost });
    open.add(client);
    open.add(upstream);
    const limit = proxy.cutAfterBytes;
    let sent = 0;
    upstream.on('data', (chunk: Buffer) => {
      if (limit !== undefined && sent + chunk.length >= limit) {
        client.write(chunk.subarray(0, limit - sent), () => {
          client.destroy();
          upstream.destroy();
        });
        sent = limit;
        upstream.pause();
        return;
      }
      sent += chunk.length;
      if (!client.write(chunk)) {
        upstream.pause();
        client.once('drain', () => upstream.resume());
      }
    });
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.port = (server.address() as { port: number }).port;
  return proxy;
}
