/**
 * Receives parked in memory until something may have made a message receivable (a send, a
 * retry, an ack that unlocks a fifo group, a delay falling due) or their wait ends. Waking is
 * one at a time: the woken receive wakes the next if it leaves messages behind.
 */
export class LongPolls {
  #waiters = new Set<() => void>();

  get size(): number {
    return this.#waiters.size;
  }

  /**
   * Wakes the longest-parked receive. Waking all of them for one new message would make each
   * run a whole operation to find nothing; the woken one wakes the next if it leaves any.
   */
  wakeOne(): void {
    const [wake] = this.#waiters;
    wake?.();
  }

  /** Waits until woken by a change (true) or until `ms` pass (false). */
  park(ms: number): Promise<boolean> {
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
