/**
 * Keeps the recordings page current while it is shown: the daemon's event
 * feed (`/api/v1/events`) says `recording-added` when a segment starts (so the
 * one before it has just finished) and `recording-removed` when rotation or a
 * deletion takes one; the page lists again, once per burst of events.
 * Closed when the page is hidden: the daemon only looks for changes while
 * someone listens.
 */

/** Events closer together than this are one change (a cut adds one segment and may rotate out another). */
const SETTLE_MS = 500;

export class RecordingsFeed {
  private events: EventSource | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** `onChange` runs once after each burst of added/removed events. */
  constructor(private readonly onChange: () => void) {}

  start(): void {
    if (this.events || typeof EventSource !== 'function') return;
    const es = new EventSource('/api/v1/events');
    this.events = es;
    const changed = (): void => {
      clearTimeout(this.timer);
      this.timer = setTimeout(this.onChange, SETTLE_MS);
    };
    es.addEventListener('recording-added', changed);
    es.addEventListener('recording-removed', changed);
  }

  stop(): void {
    this.events?.close();
    this.events = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
