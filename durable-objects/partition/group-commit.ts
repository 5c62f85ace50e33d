/**
 * Group commit: calls (sends, receives, acks) that arrive while a storage sync is pending wait,
 * and the next round runs all of them in one transaction and answers them after one sync, so a
 * partition is not bound to one storage commit per request, and the rows a round changes are
 * written once for all its calls. An idle partition runs a lone call at once.
 *
 * Each item of a round is answered on its own: `write` gives one result per item, and an
 * error thrown by the round (or its sync) rejects every item of that round, none of another.
 * No answer leaves before its round's sync: a resolved send is durable.
 */

/** How many of the waiting calls the next round takes (at least one). */
export type RoundStrategy = (waiting: number) => number;

/** Production: a round takes every call that waited. */
export const takeAll: RoundStrategy = (waiting) => waiting;

export type RoundResult<R> = { outcome: R } | { error: unknown };

type Pending<T, R> = { item: T; resolve: (outcome: R) => void; reject: (error: unknown) => void };

export class GroupCommit<T, R> {
  #pending: Pending<T, R>[] = [];
  #committing = false;

  constructor(
    private readonly strategy: RoundStrategy,
    /** Writes one round in one transaction: one result per item, in order. */
    private readonly write: (round: T[]) => RoundResult<R>[],
    /** Resolves once what `write` wrote is durable. */
    private readonly sync: () => Promise<void>,
  ) {}

  submit(item: T): Promise<R> {
    const outcome = new Promise<R>((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
    });
    if (!this.#committing) void this.#commit();
    return outcome;
  }

  async #commit(): Promise<void> {
    this.#committing = true;
    try {
      while (this.#pending.length > 0) {
        const take = Math.max(1, this.strategy(this.#pending.length));
        const round = this.#pending.splice(0, take);
        let results: RoundResult<R>[];
        try {
          results = this.write(round.map((pending) => pending.item));
          await this.sync();
        } catch (error) {
          for (const pending of round) pending.reject(error);
          continue;
        }
        round.forEach((pending, i) => {
          const result = results[i];
          if ("outcome" in result) pending.resolve(result.outcome);
          else pending.reject(result.error);
        });
      }
    } finally {
      this.#committing = false;
    }
  }
}
