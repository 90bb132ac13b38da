/**
 * Marks the open chat read when its newest messages are actually seen: the page is visible and has
 * focus, and the list is scrolled to the bottom. Checked whenever one of those may have changed (a
 * message arrived, a scroll, focus, visibility); each revision is marked once, and only forward.
 */
export interface ReadMarkerOptions {
  /** The newest revision shown. */
  newest: () => number;
  atBottom: () => boolean;
  /** Sends the mark (the socket's `read` frame); a failure lets the next check try again. */
  mark: (revision: number) => Promise<unknown>;
  scroller: HTMLElement;
}

export class ReadMarker {
  #marked = 0;
  #inFlight = false;
  constructor(private readonly o: ReadMarkerOptions) {
    o.scroller.addEventListener('scroll', () => this.check(), { passive: true });
    window.addEventListener('focus', () => this.check());
    document.addEventListener('visibilitychange', () => this.check());
  }

  /** What is already marked (from history or a receipt of another device): not sent again. */
  known(revision: number): void {
    if (revision > this.#marked) this.#marked = revision;
  }

  check(): void {
    const newest = this.o.newest();
    if (newest <= this.#marked || this.#inFlight) return;
    if (document.visibilityState !== 'visible' || !document.hasFocus() || !this.o.atBottom()) return;
    this.#inFlight = true;
    this.o.mark(newest).then(
      () => { this.known(newest); },
      () => undefined,
    ).finally(() => {
      this.#inFlight = false;
      // Messages that came while the mark was on its way.
      if (this.o.newest() > this.#marked) setTimeout(() => this.check(), 0);
    });
  }
}
