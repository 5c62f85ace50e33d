/**
 * Group commit: calls (sends, receives, acks) that arrive while a storage sync is pending wait,
 * and the next round runs all of them in one transaction and answers them after one sync, so a
 * partition is not bound to one storage commit per request, and the rows a round changes are
 * written once for all its calls. An idle partition runs a lone call at once.
 *
 * Gathering: a sync can be over (locally in about a millisecond) before concurrent callers
 * have come back, so rounds would stay a few calls each, and each would write rows of its own.
 * After a round of several calls, the next one waits (at most `ms`) until as many calls are
 * waiting as that round had, or until the waiting calls are `enough` for a row on their own;
 * as PostgreSQL's commit_delay waits only while other transactions are active. The size of the
 * last round outlives an idle moment (callers in a closed loop leave one between rounds), so
 * the first call after a burst may wait `ms` once; a caller alone otherwise never waits.
 *
 * Each item of a round is answered on its own: `write` gives one result per item, and an
 * error thrown by the round (or its sync) rejects every item of that round, none of another.
 * No answer leaves before its round's sync: a resolved send is durable.
 */

/** How many of the waiting calls the next round takes (at least one). */
export type RoundStrategy = (waiting: number) => number;

/** Production: a round takes every call that waited. */
export const takeAll: RoundStrategy = (waiting) => waiting;

/**
 * How a round waits for company (see the header); without it, rounds never wait. The waiting
 * calls are `enough` once their `weight`s add up to it.
 */
export interface Gathering<T> {
  ms: number;
  weight: (item: T) => number;
  enough: number;
}

export interface CommitPolicy<T> {
  take: RoundStrategy;
  gathering?: Gathering<T>;
}

export type RoundResult<R> = { outcome: R } | { error: unknown };

type Pending<T, R> = {
  item: T;
  weight: number;
  resolve: (outcome: R) => void;
  reject: (error: unknown) => void;
};

export class GroupCommit<T, R> {
  #pending: Pending<T, R>[] = [];
  /** The waiting calls' weights, added up as they come. */
  #pendingWeight = 0;
  #committing = false;
  /** Calls in the last round: how many a gathering round waits for. */
  #lastRound = 0;
  /** Ends the current gathering wait early, once its calls have come. */
  #gathered: (() => void) | null = null;

  constructor(
    private readonly policy: CommitPolicy<T>,
    /** Writes one round in one transaction: one result per item, in order. */
    private readonly write: (round: T[]) => RoundResult<R>[],
    /** Resolves once what `write` wrote is durable. */
    private readonly sync: () => Promise<void>,
  ) {}

  submit(item: T): Promise<R> {
    const weight = this.policy.gathering?.weight(item) ?? 0;
    this.#pendingWeight += weight;
    const outcome = new Promise<R>((resolve, reject) => {
      this.#pending.push({ item, weight, resolve, reject });
    });
    if (!this.#committing) void this.#commit();
    else if (this.#gathered && this.#gatheredEnough()) this.#gathered();
    return outcome;
  }

  async #commit(): Promise<void> {
    this.#committing = true;
    try {
      while (this.#pending.length > 0) {
        // Awaited only when it waits: an idle partition's lone call is written at once.
        const gathering = this.#gathering();
        if (gathering) await gathering;
        const take = Math.max(1, this.policy.take(this.#pending.length));
        const round = this.#pending.splice(0, take);
        for (const pending of round) this.#pendingWeight -= pending.weight;
        this.#lastRound = round.length;
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

  /** After a round of several calls, a wait for as many (or enough) calls, at most `ms`. */
  #gathering(): Promise<void> | null {
    const gathering = this.policy.gathering;
    if (!gathering || this.#lastRound < 2 || this.#gatheredEnough()) return null;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.#gathered?.(), gathering.ms);
      this.#gathered = () => {
        clearTimeout(timer);
        this.#gathered = null;
        resolve();
      };
    });
  }

  #gatheredEnough(): boolean {
    const gathering = this.policy.gathering;
    return (
      !gathering ||
      this.#pending.length >= this.#lastRound ||
      this.#pendingWeight >= gathering.enough
    );
  }
}
