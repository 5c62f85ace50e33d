/**
 * Receives parked in memory until something may have made a message receivable (a send, a
 * retry, an ack that unlocks a fifo group, a delay falling due) or their wait ends. Waking is
 * one at a time: the woken receive wakes the next if it leaves messages behind. Signals are
 * counted, so a receive that looked before a signal and parks after it does not sleep through it.
 */
export class LongPolls {
  #waiters = new Set<() => void>();
  #signals = 0;

  /** Signals so far: what a receive saw when it looked, to hand to `park`. */
  get signals(): number {
    return this.#signals;
  }

  /**
   * Something may have made a message receivable: wakes the longest-parked receive. Waking all
   * of them for one new message would make each run a whole operation to find nothing; the
   * woken one wakes the next if it leaves any.
   */
  signal(): void {
    this.#signals++;
    this.wakeOne();
  }

  wakeOne(): void {
    const [wake] = this.#waiters;
    wake?.();
  }

  /**
   * Waits until woken by a signal (true) or until `ms` pass (false); at once (true) when a
   * signal came after `seen`, the count the caller looked at.
   */
  park(ms: number, seen: number): Promise<boolean> {
    if (seen !== this.#signals) return Promise.resolve(true);
    return new Promise((resolve) => {
      const wake = (woken: boolean) => {
        clearTimeout(timer);
        this.#waiters.delete(wakeUp);
        resolve(woken);
      };
      const wakeUp = () => wake(true);
      const timer = setTimeout(() => wake(false), ms);
      this.#waiters.add(wakeUp);
    });
  }
}
