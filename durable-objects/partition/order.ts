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
 */

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
  options: { max: number; budget: number; byPriority: boolean },
): C[] {
  const before = (a: C, b: C) =>
    options.byPriority && a.priority !== b.priority ? a.priority > b.priority : a.seq < b.seq;
  const chosen: C[] = [];
  let budget = options.budget;
  let next = fresh.next();
  let h = 0;
  while (chosen.length < options.max) {
    const fromFresh = !next.done && (h >= held.length || before(next.value, held[h]));
    const candidate = fromFresh ? (next.value as C) : held[h];
    if (candidate === undefined) break;
    if (candidate.size > budget && chosen.length > 0) break;
    budget -= candidate.size;
    chosen.push(candidate);
    if (fromFresh) next = fresh.next();
    else h++;
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
  },
): C[] {
  const { max, groups, freeGroups } = options;
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
  const take = (candidate: C): boolean => {
    if (candidate.size > budget && chosen.length > 0) return false;
    budget -= candidate.size;
    chosen.push(candidate);
    return true;
  };
  let i = 0;
  heads: while (chosen.length < max && freeDecided < freeGroups) {
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
    if (!take(head)) break;
    // The run: the group's next messages in seq order, up to its first one not ready.
    let remaining = group.waiting - 1;
    for (let j = i; chosen.length < max && remaining > 0; j++) {
      if (j >= merged.length && !extend()) break;
      const candidate = merged[j];
      if (candidate.group !== head.group) continue;
      remaining--;
      if (!candidate.ready) break;
      if (!take(candidate)) break heads;
    }
  }
  return chosen;
}
