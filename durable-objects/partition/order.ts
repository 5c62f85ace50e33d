/**
 * Which messages a receive gets, in the queue's order, from two streams already in that
 * order: held messages (read by the log) and fresh ones (a lazy scan of segments, read only as
 * far as needed). Pure: no storage, no clock. An answer stops at `max` messages or at `budget`
 * characters (always at least one message).
 *
 * - unordered: the first ready messages by seq; priority: by priority, then seq.
 * - fifo: the oldest head of a free group first (free: nothing of the group leased; its head,
 *   its oldest waiting message, must be ready), with the group's run of ready messages in seq
 *   order, as SQS does; then the next oldest head. A group is looked at once per receive.
 *
 * Flow control (flow.ts) passes `admit`, asked for each message before it is taken: a refused
 * message is skipped (in fifo, its group's run ends there), and the scan goes on past at most
 * LOOK_PAST_LIMIT refused messages. `chooseFair` then deals keys their turns.
 */

/**
 * Messages of held keys a receive may look past before it stops looking: a held key with a
 * long backlog then costs a bounded read, at the price of not reaching keys behind it.
 */
export const LOOK_PAST_LIMIT = 5_000;

/** Asked for each message a receive would take; false skips it. */
export type Admit<C> = (candidate: C) => boolean;

/** A message a receive may take. */
export interface Orderable {
  seq: number;
  group: string;
  ready: boolean;
  /** Characters it adds to the answer. */
  size: number;
  priority: number;
}

/** How many messages of a fifo group wait and how many are leased. */
export interface GroupCount {
  waiting: number;
  leased: number;
}

/** Unordered and priority order: `held` are the ready held messages, in the same order. */
export function chooseInOrder<C extends Orderable>(
  held: C[],
  fresh: Iterator<C>,
  options: { max: number; budget: number; byPriority: boolean; admit?: Admit<C> },
): C[] {
  const before = (a: C, b: C) =>
    options.byPriority && a.priority !== b.priority ? a.priority > b.priority : a.seq < b.seq;
  const chosen: C[] = [];
  let budget = options.budget;
  let next = fresh.next();
  let h = 0;
  let refused = 0;
  while (chosen.length < options.max && refused <= LOOK_PAST_LIMIT) {
    const fromFresh = !next.done && (h >= held.length || before(next.value, held[h]));
    const candidate = fromFresh ? (next.value as C) : held[h];
    if (candidate === undefined) break;
    if (candidate.size > budget && chosen.length > 0) break;
    if (fromFresh) next = fresh.next();
    else h++;
    if (options.admit && !options.admit(candidate)) {
      refused++;
      continue;
    }
    budget -= candidate.size;
    chosen.push(candidate);
  }
  return chosen;
}

/**
 * Fifo order: `held` are all waiting held messages by seq (ready or not: a held head that is
 * not ready holds its group back); `groups` counts every group's messages, `freeGroups` how
 * many groups are free, so the scan stops once every free group has been looked at.
 */
export function chooseFifo<C extends Orderable>(
  held: C[],
  fresh: Iterator<C>,
  options: {
    max: number;
    budget: number;
    groups: ReadonlyMap<string, GroupCount>;
    freeGroups: number;
    admit?: Admit<C>;
  },
): C[] {
  const { max, groups, freeGroups, admit } = options;
  if (freeGroups === 0) return [];
  const merged: C[] = [];
  let h = 0;
  let next = fresh.next();
  const extend = (): boolean => {
    const fromFresh = !next.done && (h >= held.length || next.value.seq < held[h].seq);
    if (fromFresh) {
      merged.push(next.value as C);
      next = fresh.next();
      return true;
    }
    if (h < held.length) {
      merged.push(held[h++]);
      return true;
    }
    return false;
  };
  const chosen: C[] = [];
  const decided = new Set<string>();
  let freeDecided = 0;
  let budget = options.budget;
  let refused = 0;
  /** Over the budget: the answer is full. Refused: skipped. */
  const take = (candidate: C): "taken" | "full" | "refused" => {
    if (candidate.size > budget && chosen.length > 0) return "full";
    if (admit && !admit(candidate)) {
      refused++;
      return "refused";
    }
    budget -= candidate.size;
    chosen.push(candidate);
    return "taken";
  };
  let i = 0;
  heads: while (chosen.length < max && freeDecided < freeGroups && refused <= LOOK_PAST_LIMIT) {
    while (i >= merged.length || decided.has(merged[i].group)) {
      if (i >= merged.length && !extend()) break heads;
      if (i < merged.length && decided.has(merged[i].group)) i++;
    }
    const head = merged[i];
    decided.add(head.group);
    const group = groups.get(head.group);
    i++;
    if (!group || group.leased > 0) continue;
    freeDecided++;
    if (!head.ready) continue;
    const taken = take(head);
    if (taken === "full") break;
    if (taken === "refused") continue;
    // The run: the group's next messages in seq order, up to its first one not ready.
    let remaining = group.waiting - 1;
    for (let j = i; chosen.length < max && remaining > 0; j++) {
      if (j >= merged.length && !extend()) break;
      const candidate = merged[j];
      if (candidate.group !== head.group) continue;
      remaining--;
      if (!candidate.ready) break;
      const taken = take(candidate);
      if (taken === "full") break heads;
      if (taken === "refused") break;
    }
  }
  return chosen;
}

/**
 * Fairness over keys: `looked` are the messages a receive may take, in the queue's order (each
 * group's in its own order); keys take turns, the one served longest ago (`lastServed`, lower
 * first) first, one message a turn, until `max` or the budget. A key whose message `admit`
 * refuses is out for the rest of the receive (so a fifo group stays a prefix of its run).
 */
export function chooseFair<C extends Orderable>(
  looked: C[],
  options: { max: number; budget: number; admit: Admit<C>; lastServed: (group: string) => number },
): C[] {
  const byGroup = new Map<string, C[]>();
  for (const candidate of looked) {
    const list = byGroup.get(candidate.group);
    if (list) list.push(candidate);
    else byGroup.set(candidate.group, [candidate]);
  }
  // Map order is first appearance, the queue's order: sort is stable, so it breaks ties.
  const turns = [...byGroup.keys()].sort((a, b) => options.lastServed(a) - options.lastServed(b));
  const chosen: C[] = [];
  let budget = options.budget;
  for (let round = 0; turns.length > 0; round++) {
    for (let t = 0; t < turns.length; t++) {
      if (chosen.length >= options.max) return chosen;
      const candidate = byGroup.get(turns[t])?.[round];
      if (candidate !== undefined && candidate.size > budget && chosen.length > 0) return chosen;
      if (candidate === undefined || !options.admit(candidate)) {
        turns.splice(t--, 1);
        continue;
      }
      budget -= candidate.size;
      chosen.push(candidate);
    }
  }
  return chosen;
}
