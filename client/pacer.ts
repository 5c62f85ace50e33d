/**
 * Slowing down when Sluice asks. A send answered with `Sluice-Backpressure: slow` (the
 * partition is above its soft backlog) makes the next sends to that queue wait first; the
 * pause doubles while the answers stay slow and halves with each calm answer, down to none.
 */
import { sleep } from "./http.ts";

export interface BackpressureOptions {
  /** The pause after the first slow answer. Default 50. */
  initialDelayMs: number;
  /** The pause never grows past this. Default 5 000. */
  maxDelayMs: number;
}

export const DEFAULT_BACKPRESSURE: BackpressureOptions = { initialDelayMs: 50, maxDelayMs: 5_000 };

export class Pacer {
  readonly #options: BackpressureOptions;
  readonly #delays = new Map<string, number>();

  constructor(options: BackpressureOptions) {
    this.#options = options;
  }

  /** The pause the next send to `queue` waits before it goes out. */
  delayMs(queue: string): number {
    return this.#delays.get(queue) ?? 0;
  }

  async wait(queue: string, signal?: AbortSignal): Promise<void> {
    const delay = this.delayMs(queue);
    if (delay > 0) await sleep(delay, signal);
  }

  observe(queue: string, slow: boolean): void {
    const { initialDelayMs, maxDelayMs } = this.#options;
    const delay = this.delayMs(queue);
    const next = slow
      ? Math.min(maxDelayMs, Math.max(initialDelayMs, delay * 2))
      : delay / 2 < initialDelayMs
        ? 0
        : delay / 2;
    if (next === 0) this.#delays.delete(queue);
    else this.#delays.set(queue, next);
  }
}
