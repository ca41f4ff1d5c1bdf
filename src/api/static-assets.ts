/**
 * Serves the built web app (dist/web, made by scripts/build-web.mjs): the
 * page at `/` and its files under `/assets/`. The HTTP API mounts it for
 * `GET /` when the browser asks for HTML (so `curl /` still gets the
 * device's `Welcome to Velovision Rearview`) and for `/assets/*`;
 * `rearview view` mounts it alone. `/favicon.ico` is drawn in code (favicon.ts).
 */
import type { Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { faviconIco } from './favicon.js';

/** Folder of the built web app: dist/web beside dist/src. */
export const defaultWebRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

/** Options of {@link createWebAssetsHandler}. */
export interface WebAssetsOptions {
  /** Folder with index.html and assets/. Default: dist/web of this package. */
  root?: string;
  /** Mark the page as the stand-alone live viewer (no gallery or status: `rearview view`). Default false. */
  viewerOnly?: boolean;
  /**
   * The camera asks no API token: the page may start the live view at once instead of after its
   * pairing check (one round trip less before the first picture). Default false.
   */
  noToken?: boolean;
  /** Reads a file (default fs/promises readFile); injectable so tests can make a read fail. */
  readFile?: (file: string) => Promise<Buffer>;
}

/**
 * Answers a request for the web app. Returns true when it handled the
 * request (the page, an asset, or a 404 for a missing asset), false for any
 * other path or method so the caller's routes can answer it.
 */
export type WebAssetsHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/**
 * True when the request is for the web page: a browser asking for HTML
 * (`Accept` names text/html, any case). The one test the API server and
 * the web mount share.
 */
export function wantsHtml(req: IncomingMessage): boolean {
  return /\btext\/html\b/i.test(req.headers.accept ?? '');
}

/** True for the public part of the web app: the page (when a browser asks for HTML) and `/assets/*`. */
export function isWebAppRequest(req: IncomingMessage, pathname: string): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (pathname.startsWith('/assets/') || pathname === '/favicon.ico') return true;
  return (pathname === '/' || pathname === '/index.html') && wantsHtml(req);
}

/** Creates the handler; see {@link WebAssetsHandler}. */
export function createWebAssetsHandler(options: WebAssetsOptions = {}): WebAssetsHandler {
  const root = options.root ?? defaultWebRoot;
  const read = options.readFile ?? ((file: string) => readFile(file));
  // Last body read per file, reused while its ETag (size + mtime) is unchanged.
  const cache = new Map<string, { etag: string; body: Buffer }>();
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const pathname = decodeSafe((req.url ?? '/').split('?')[0] ?? '/');
    if (pathname === '/favicon.ico') {
      const icon = faviconIco();
      res.writeHead(200, {
        'Content-Type': 'image/x-icon',
        'Content-Length': String(icon.length),
        'Cache-Control': 'max-age=86400',
        'X-Content-Type-Options': 'nosniff',
      });
      res.end(req.method === 'HEAD' ? undefined : icon);
      return true;
    }
    let file: string;
    if (pathname === '/' || pathname === '/index.html') {
      file = join(root, 'index.html');
    } else if (pathname.startsWith('/assets/')) {
      const name = pathname.slice('/assets/'.length);
      // Flat folder of our own build output: a plain name or nothing.
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || name.includes('..')) {
        notFound(res);
        return true;
      }
      file = join(root, 'assets', name);
    } else {
      return false;
    }
    let info: Stats;
    try {
      info = await stat(file);
      if (!info.isFile()) throw new Error('not a file');
    } catch {
      if (file.endsWith('index.html')) {
        res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('The web app is not built: run "npm run build".\n');
      } else {
        notFound(res);
      }
      return true;
    }
    const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}${options.viewerOnly ? '-v' : ''}${options.noToken ? '-n' : ''}"`;
    const ext = file.slice(file.lastIndexOf('.'));
    const headers: Record<string, string> = {
      'Content-Type': TYPES[ext] ?? 'application/octet-stream',
      // Names are not content-hashed: revalidate every time (cheap 304s).
      'Cache-Control': 'no-cache',
      ETag: etag,
      'X-Content-Type-Options': 'nosniff',
    };
    if (ext === '.html') {
      // Everything comes from the camera itself: no CDN, no inline scripts.
      headers['Content-Security-Policy'] =
        "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'";
      headers['Referrer-Policy'] = 'no-referrer';
    }
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    let body = cache.get(file)?.etag === etag ? cache.get(file)?.body : undefined;
    if (!body) {
      try {
        body = await read(file);
      } catch {
        // Deleted or rebuilt between stat and read, or unreadable: never a rejection for the caller.
        cache.delete(file);
        if (!res.headersSent)
          res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end('The web app is being rebuilt or cannot be read: reload in a moment.\n');
        return true;
      }
      if (ext === '.html' && (options.viewerOnly || options.noToken)) {
        const marks = `${options.viewerOnly ? ' data-viewer="1"' : ''}${options.noToken ? ' data-no-token="1"' : ''}`;
        body = Buffer.from(body.toString('utf8').replace('<body>', `<body${marks}>`));
      }
      cache.set(file, { etag, body });
    }
    headers['Content-Length'] = String(body.length);
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}

function decodeSafe(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return '/\0invalid';
  }
}

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(`${JSON.stringify({ error: { code: 'ERR_NOT_FOUND', message: 'no such asset' } })}\n`);
}
