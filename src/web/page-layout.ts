/**
 * The page's frame on every screen, phones first: the camera's name in the
 * header, the height of what sits above the live picture (so CSS can fit the
 * whole picture on screen in landscape), and whether the figures overlay is
 * on by default (off on phone-sized windows, where it would hide the road).
 */

/** Phone-sized windows, in either orientation (also in app.css). */
const PHONE_QUERY = '(max-width: 600px), (max-height: 500px)';

/** True on a phone-sized window. */
export function isPhoneSized(): boolean {
  return typeof matchMedia === 'function' && matchMedia(PHONE_QUERY).matches;
}

/** Shows the camera's name in the header and the tab title (from the status or the stream's config). */
export function showCameraName(name: string): void {
  const trimmed = name.trim();
  if (!trimmed) return;
  const h1 = document.getElementById('camera-name');
  if (h1 && h1.textContent !== trimmed) h1.textContent = trimmed;
  const title = `${trimmed} — Rearview`;
  if (document.title !== title) document.title = title;
}

/**
 * Keeps the CSS variable --chrome-h equal to the height of the header and the
 * banners shown under it: the live picture is sized to fit the rest of the
 * window, so in landscape the bottom of the picture (the road) is never cut off.
 */
export function trackChromeHeight(): void {
  const parts = [document.querySelector('header.top'), ...Array.from(document.querySelectorAll('.banner'))].filter(
    (el): el is HTMLElement => el instanceof HTMLElement,
  );
  const update = (): void => {
    let height = 0;
    for (const el of parts) if (!el.hidden) height += el.getBoundingClientRect().height;
    document.documentElement.style.setProperty('--chrome-h', `${Math.ceil(height)}px`);
  };
  if (typeof ResizeObserver === 'function') {
    // Fires when a banner appears or goes (its box changes size) and when the header rewraps.
    const observer = new ResizeObserver(update);
    for (const el of parts) observer.observe(el);
  }
  window.addEventListener('resize', update);
  update();
}
