/**
 * Pairing this browser with the camera's API token (docs/web.md "Pairing"):
 * the token is typed once (or arrives from another paired phone's QR code)
 * and sent to `POST /api/v1/pair`, which answers with an HttpOnly cookie; the
 * page never stores the token itself. A paired page shows the token as a QR
 * code so a second phone can scan it, and can unpair (`DELETE`).
 *
 * The QR code holds `http://<camera>/#pair=TOKEN`: a URL fragment is never
 * sent to the server (no request line, log or Referer carries it), and the
 * page removes it from the address bar and history at once.
 */
import { encode } from 'uqr';
import { ApiError, apiJson } from './web-api.js';

/** `GET /api/v1/pair`. */
export interface PairingState {
  tokenRequired: boolean;
  paired: boolean;
  /** Only for a client that presented the right token. */
  token?: string;
}

/** Prefix of the page URL fragment that carries a token from a QR code. */
const PAIR_FRAGMENT = '#pair=';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

/**
 * The token of a `#pair=TOKEN` page address, removed from the address bar
 * and the history entry before anything else runs; undefined without one.
 */
export function takePairingFragment(): string | undefined {
  if (!location.hash.startsWith(PAIR_FRAGMENT)) return undefined;
  let token: string;
  try {
    token = decodeURIComponent(location.hash.slice(PAIR_FRAGMENT.length));
  } catch {
    token = '';
  }
  history.replaceState(null, '', `${location.pathname}${location.search}#live`);
  return token === '' ? undefined : token;
}

/** Draws `text` as a QR code (error correction M, 4-module quiet zone) on `canvas`. */
export function drawQrCode(canvas: HTMLCanvasElement, text: string, modulePx = 6): void {
  const qr = encode(text, { ecc: 'M', border: 4 });
  const size = qr.data.length;
  canvas.width = size * modulePx;
  canvas.height = size * modulePx;
  const g = canvas.getContext('2d');
  if (!g) return;
  g.fillStyle = '#fff';
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.fillStyle = '#000';
  for (const [y, row] of qr.data.entries()) {
    for (const [x, dark] of row.entries()) {
      if (dark) g.fillRect(x * modulePx, y * modulePx, modulePx, modulePx);
    }
  }
}

/** The Pair section: form, QR code, unpair button. */
export class PairingPanel {
  private readonly form = $<HTMLFormElement>('pair-form');
  private readonly input = $<HTMLInputElement>('pair-token');
  private readonly message = $('pair-message');
  private readonly paired = $('pair-paired');
  private readonly qr = $<HTMLCanvasElement>('pair-qr');
  private state: PairingState | undefined;

  /** `onChange` runs after pairing or unpairing, with the new state. */
  constructor(private readonly onChange: (state: PairingState) => void) {
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.pair(this.input.value.trim());
    });
    $('pair-forget').addEventListener('click', () => void this.unpair());
  }

  /** Asks the camera whether this browser is paired and shows it. */
  async refresh(): Promise<PairingState> {
    try {
      this.state = await apiJson<PairingState>('/api/v1/pair');
    } catch (err) {
      // 401: a cookie from an earlier token; this browser is not paired any more.
      // Anything else (camera unreachable): let the other sections say so.
      this.state = { tokenRequired: err instanceof ApiError && err.status === 401, paired: false };
      this.message.textContent = (err as Error).message;
    }
    this.render();
    return this.state;
  }

  /** Sends `token` to the camera; on success the camera sets the cookie. */
  async pair(token: string): Promise<void> {
    if (token === '') {
      this.message.textContent = 'Type the token first.';
      return;
    }
    this.message.textContent = 'Pairing…';
    try {
      await apiJson('/api/v1/pair', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ token }),
      });
      this.input.value = '';
      this.message.textContent = 'This browser is paired.';
    } catch (err) {
      this.message.textContent = `Not paired: ${(err as Error).message}`;
    }
    this.onChange(await this.refresh());
  }

  private async unpair(): Promise<void> {
    try {
      await apiJson('/api/v1/pair', { method: 'DELETE' });
      this.message.textContent = 'This browser is no longer paired.';
    } catch (err) {
      this.message.textContent = (err as Error).message;
    }
    this.onChange(await this.refresh());
  }

  private render(): void {
    const s = this.state;
    const paired = s?.paired === true && s.token !== undefined;
    $('pair-none').hidden = s?.tokenRequired !== false;
    this.form.hidden = !(s?.tokenRequired === true && !paired);
    this.paired.hidden = !paired;
    if (paired) drawQrCode(this.qr, `${location.origin}/${PAIR_FRAGMENT}${encodeURIComponent(s.token as string)}`);
    else {
      // Nothing of the token stays drawn once unpaired.
      this.qr.width = 0;
      this.qr.height = 0;
    }
  }
}
