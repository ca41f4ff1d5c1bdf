/**
 * Entry point of the web app (bundled by scripts/build-web.mjs into
 * assets/app.js): the live view, the recordings gallery and the status
 * page, switched by the URL hash (#live, #recordings, #status).
 *
 * Page URL options: `?path=webcodecs|webrtc|mse|mms` forces a path, `?ws=URL`
 * takes the stream from another WebSocket. A camera with an API token is
 * paired once in the Pair section (#pair); the token never goes in a URL
 * sent to the camera.
 */
import { CameraWatch } from './camera-watch.js';
import { Gallery } from './gallery.js';
import { RecordingsFeed } from './recordings-feed.js';
import { RideList } from './ride-list.js';
import { browserAbilities, choosePath, mediaSourcePath, type LivePath } from './live-path.js';
import { LivePlayer, type LiveStats } from './live-player.js';
import { WebRtcPlayer } from './webrtc-player.js';
import { isPhoneSized, showCameraName, trackChromeHeight } from './page-layout.js';
import { PairingPanel, takePairingFragment } from './pairing-panel.js';
import { StatusPanel } from './status-panel.js';
import { apiJson } from './web-api.js';
import type { MomentDocument } from '../api/wire-types.js';
import { WS_JOIN_POLICIES } from '../outputs/ws-protocol.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

/** The camera's WHEP endpoint (docs/api.md). */
const WHEP_PATH = '/api/v1/whep';

/** Default path of the live WebSocket on the camera's API port. */
const LIVE_PATH = '/api/v1/live';

function liveUrl(): string {
  const given = new URLSearchParams(location.search).get('ws');
  if (given) return given;
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  // Live edge by default (docs/web.md): the cached GOP decodes unseen, the first picture is the newest.
  const asked = new URLSearchParams(location.search).get('join') ?? '';
  const join = (WS_JOIN_POLICIES as readonly string[]).includes(asked) ? asked : 'live-edge';
  return `${scheme}//${location.host}${LIVE_PATH}?join=${join}`;
}

function formatLatency(stats: LiveStats): string {
  if (stats.latencyMs === undefined) return '–';
  return `${Math.round(stats.latencyMs)} ms`;
}

const stateText: Record<LiveStats['state'], string> = {
  connecting: 'Connecting to the camera…',
  live: 'Live',
  'no-video': 'Connected, but the camera is not sending video.',
  offline: 'Camera offline',
};

function showStats(stats: LiveStats): void {
  $('ov-latency').textContent = formatLatency(stats);
  $('ov-fps').textContent = String(stats.fps);
  $('ov-bitrate').textContent = stats.bitrateBps > 0 ? `${(stats.bitrateBps / 1e6).toFixed(2)} Mb/s` : '–';
  $('ov-size').textContent = stats.width ? `${stats.width}×${stats.height}` : '–';
  $('ov-drops').textContent = String(stats.drops);
  $('ov-path').textContent = PATH_LABEL[stats.path];
  const state = $('live-state');
  let text = stateText[stats.state];
  if (stats.state === 'offline' && stats.retryInS !== undefined) text += ` — retrying in ${stats.retryInS} s`;
  if (state.textContent !== text) state.textContent = text;
  state.className = `state ${stats.state}`;
  state.dataset.state = stats.state;
  if (stats.clockOffsetMs !== undefined) {
    const off = Math.round(stats.clockOffsetMs);
    const within = Math.ceil((stats.clockRttMs ?? 0) / 2) + 1;
    $('clock-note').textContent =
      `Latency is measured from the camera's capture time to the moment the picture is shown here. ` +
      (stats.clockCorrectionMs === 0
        ? `The camera's clock and this device's agree to within ±${within} ms, so no correction is applied.`
        : `The camera's clock is ${Math.abs(off)} ms ${off >= 0 ? 'ahead of' : 'behind'} this device's; ` +
          `that difference is corrected, to within ±${within} ms.`);
  }
}

const PATH_LABEL: Record<LivePath, string> = { webcodecs: 'WebCodecs', mse: 'MSE', mms: 'MMS', webrtc: 'WebRTC' };

/** The note under the picture: the path, and why it (rather than a better one) when it was not named in the address. */
function showPath(path: LivePath, whyFallback: string, forced = false): void {
  const why = forced ? 'chosen in the address.' : whyFallback;
  $('path-note').textContent =
    path === 'webcodecs'
      ? `Decoding with WebCodecs (${forced ? 'chosen in the address; ' : ''}lowest latency).`
      : path === 'webrtc'
        ? `Playing over WebRTC (${why}) The browser decodes the camera's H.264 itself.`
        : `Decoding with ${path === 'mms' ? 'Managed Media Source (MMS)' : 'Media Source Extensions'} (${forced ? '' : 'fallback: '}${why}) Expect more latency.`;
  document.body.dataset.path = path;
}

function setupLive(): { start: () => void; stop: () => void } {
  const canvas = $<HTMLCanvasElement>('live-canvas');
  const video = $<HTMLVideoElement>('live-video');
  const mirror = $<HTMLInputElement>('mirror');
  // A rear-view camera is watched like a mirror: default on, remembered per browser.
  mirror.checked = localStorage.getItem('rearview.mirror') !== 'off';
  const applyMirror = (): void => {
    canvas.classList.toggle('mirrored', mirror.checked);
    video.classList.toggle('mirrored', mirror.checked);
    localStorage.setItem('rearview.mirror', mirror.checked ? 'on' : 'off');
  };
  mirror.addEventListener('change', applyMirror);
  applyMirror();
  const showOverlay = $<HTMLInputElement>('show-overlay');
  // The figures hide part of a phone's small picture: off there unless this browser chose otherwise.
  const figures = localStorage.getItem('rearview.figures');
  showOverlay.checked = figures === null ? !isPhoneSized() : figures === 'on';
  $('overlay').hidden = !showOverlay.checked;
  showOverlay.addEventListener('change', () => {
    $('overlay').hidden = !showOverlay.checked;
    localStorage.setItem('rearview.figures', showOverlay.checked ? 'on' : 'off');
  });
  const momentButton = $<HTMLButtonElement>('mark-moment');
  momentButton.addEventListener('click', () => {
    // A moment: the camera keeps the recording around now out of rotation (docs/api.md, "Moments").
    momentButton.disabled = true;
    const note = $('moment-note');
    apiJson<MomentDocument>('/api/v1/moments', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ source: 'page' }),
    })
      .then((m) => {
        const t = (iso: string): string => new Date(iso).toLocaleTimeString();
        note.textContent = `Kept: ${t(m.from)} to ${t(m.to)}${m.clockSet ? '' : " (the camera's clock is not set: times are approximate)"}.`;
      })
      .catch((err: Error) => {
        note.textContent = `Not kept: ${err.message}`;
      })
      .finally(() => {
        momentButton.disabled = false;
      });
  });
  $('fullscreen').addEventListener('click', () => {
    if (document.fullscreenElement) void document.exitFullscreen();
    else
      void $('stage')
        .requestFullscreen?.()
        .catch(() => {
          // refused by the browser: the page simply stays as it is
        });
  });

  // The best path this browser has, unless the URL names one (live-path.ts): WebCodecs (secure
  // contexts), else WebRTC (an iPhone on the camera's http:// page), else MSE or ManagedMediaSource.
  const abilities = browserAbilities();
  const choice = choosePath(new URLSearchParams(location.search).get('path'), abilities);
  let player: LivePlayer | WebRtcPlayer | undefined;
  return {
    start() {
      if (player) return;
      if (choice.path === undefined) {
        const state = $('live-state');
        state.textContent = choice.why;
        state.className = 'state offline';
        state.dataset.state = 'unsupported';
        $('path-note').textContent = choice.why;
        return;
      }
      if (choice.path === 'webrtc') {
        const fallback = choice.forced ? undefined : mediaSourcePath(abilities);
        const webrtc = new WebRtcPlayer({
          url: WHEP_PATH,
          video,
          onStats: showStats,
          // No WebRTC for this viewer (turned off, all slots taken, `rearview view`, a codec the
          // browser lacks): the WebSocket with MSE or MMS, if this browser has one.
          ...(fallback
            ? { onUnavailable: (why: string) => startWebSocket(fallback, `WebRTC: ${why.replace(/\.$/, '')}.`) }
            : {}),
        });
        player = webrtc;
        canvas.hidden = true;
        showPath('webrtc', choice.why, choice.forced);
        webrtc.start();
        return;
      }
      startWebSocket(choice.path, choice.why, choice.forced);
    },
    stop() {
      player?.close();
      player = undefined;
    },
  };

  function startWebSocket(path: 'webcodecs' | 'mse' | 'mms', whyFallback: string, forced = false): void {
    const ws = new LivePlayer({
      url: liveUrl(),
      canvas,
      video,
      onStats: showStats,
      onConfig: (config) => {
        if (config.cameraName) showCameraName(config.cameraName);
      },
      forcePath: path,
      onPathChange: (changed) => showPath(changed, 'WebCodecs in this browser cannot decode this stream.'),
    });
    player = ws;
    showPath(ws.path, whyFallback, forced);
    ws.start();
  }
}

async function main(): Promise<void> {
  // First of all: a token scanned from a QR code leaves the address bar and history at once.
  const scannedToken = takePairingFragment();
  trackChromeHeight();
  const live = setupLive();
  const viewerOnly = document.body.dataset.viewer === '1';
  if (viewerOnly) {
    for (const id of ['nav-recordings', 'nav-status', 'nav-pair']) $(id).hidden = true;
  }
  const gallery = viewerOnly ? undefined : new Gallery();
  const rides = viewerOnly ? undefined : new RideList();
  const status = viewerOnly ? undefined : new StatusPanel();
  // A finished (or rotated) segment shows without a reload; the rides keep their own list.
  const recordingsFeed = gallery ? new RecordingsFeed(() => void gallery.refresh()) : undefined;
  const sections = ['live', 'recordings', 'status', 'pair'];
  // Until this browser is paired with a camera that needs a token, only the Pair section works.
  let mustPair = false;
  const pairing = viewerOnly
    ? undefined
    : new PairingPanel((state) => {
        const wasLocked = mustPair;
        mustPair = state.tokenRequired && !state.paired;
        if (wasLocked && !mustPair) location.hash = '#live';
        route();
      });
  // Recording alarm and offline state on every section (not on the viewer-only page: it has no API).
  const watch = viewerOnly ? undefined : new CameraWatch();
  const route = (): void => {
    let name = location.hash.replace('#', '') || 'live';
    if (mustPair) name = 'pair';
    if (!sections.includes(name) || (viewerOnly && name !== 'live')) name = 'live';
    for (const s of sections) {
      $(s).hidden = s !== name;
      const link = $(`nav-${s}`);
      if (s === name) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    // Stream only while the live view is shown: the camera's bandwidth is precious.
    if (name === 'live') live.start();
    else live.stop();
    if (name === 'recordings') void gallery?.refresh();
    if (name === 'recordings') void rides?.refresh();
    if (name === 'recordings' && !mustPair) recordingsFeed?.start();
    else recordingsFeed?.stop();
    if (name === 'status') status?.start();
    else status?.stop();
    // Not before pairing: the status needs the token (and a wrong one counts against this address).
    if (mustPair) watch?.stop();
    else watch?.start();
  };
  window.addEventListener('hashchange', route);
  // A camera with no token needs no pairing: show the section at once, without waiting a round
  // trip for the pairing state (it only locks the page when the camera asks for a token).
  const routedEarly = document.body.dataset.noToken === '1';
  if (routedEarly) route();
  let lockChanged = false;
  if (pairing) {
    const state = await pairing.refresh();
    const locked = state.tokenRequired && !state.paired;
    lockChanged = locked !== mustPair;
    mustPair = locked;
    if (scannedToken !== undefined && state.tokenRequired && !state.paired) {
      await pairing.pair(scannedToken);
      return;
    }
  }
  if (!routedEarly || lockChanged) route();
}

void main();
