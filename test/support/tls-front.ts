/**
 * TLS for the upload tests: a throwaway CA and a server certificate for
 * 127.0.0.1 made with the openssl command-line tool, and an https server
 * that forwards every request as it came (headers, Host included, so the
 * SigV4 check behind it still holds) to a plain-http S3TestServer.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { requireTool } from './tools.js';

/** PEM of a CA and of a server certificate it signed (for 127.0.0.1 and localhost). */
export interface TestCertificates {
  caCertPath: string;
  caCert: string;
  serverKey: string;
  serverCert: string;
}

/** Makes a CA (common name `name`) and a server certificate signed by it, in `dir`. */
export function makeTestCertificates(dir: string, name = 'rearview test CA'): TestCertificates {
  const openssl = requireTool('openssl');
  const p = (f: string): string => join(dir, f);
  const run = (...args: string[]): void => {
    execFileSync(openssl, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run('req', '-x509', ...ec, '-days', '2', '-subj', `/CN=${name}`, '-keyout', p('ca.key'), '-out', p('ca.pem'));
  run('req', ...ec, '-subj', '/CN=127.0.0.1', '-keyout', p('server.key'), '-out', p('server.csr'));
  writeFileSync(p('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n');
  run(
    'x509',
    '-req',
    '-in',
    p('server.csr'),
    '-CA',
    p('ca.pem'),
    '-CAkey',
    p('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    p('server.ext'),
    '-out',
    p('server.pem'),
  );
  return {
    caCertPath: p('ca.pem'),
    caCert: readFileSync(p('ca.pem'), 'utf8'),
    serverKey: readFileSync(p('server.key'), 'utf8'),
    serverCert: readFileSync(p('server.pem'), 'utf8'),
  };
}

/** An https front for a plain-http server on 127.0.0.1:`targetPort`. */
export class TlsFront {
  private readonly sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  static async start(certs: TestCertificates, targetPort: () => number): Promise<TlsFront> {
    const server = createServer({ key: certs.serverKey, cert: certs.serverCert }, (req, res) => {
      const up = request(
        { host: '127.0.0.1', port: targetPort(), method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new TlsFront(server, (server.address() as AddressInfo).port);
  }

  get endpoint(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
