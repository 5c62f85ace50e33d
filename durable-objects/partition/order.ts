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
 * LOOK_PAST_LIMIT refused messages. `chooseFair` then deals keys their turns; in an unordered
 * queue `readFair` is the fresh stream it looks at (bounded runs from the oldest and from where
 * keys due a turn begin), and `fairFroms` tells flow control where those keys now begin.
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

/**
 * A stretch of segments a fair look read one after another (ids ascending): every fresh
 * message of a segment at or above `start` and below `readTo` was read.
 */
export interface FairRun<C> {
  start: number;
  readTo: number;
  /** It read on to the last segment with fresh messages. */
  exhausted: boolean;
  /** The messages it handed on, in order. */
  looked: C[];
}

/** A key due a turn: where its fresh messages may begin, and how many of them to look for. */
export interface FairStart {
  group: string;
  from: number;
  want: number;
}

/**
 * The fresh messages a fair receive looks at, in segment id order, read as runs: one from the
 * oldest (`front`) until `window` messages were read, then one from each start not read yet
 * (where a key due a turn may have its oldest fresh message), until its key's `want` were
 * found or the starts' own `window` is spent; a run that reaches the next start goes on as
 * one. A run reads whole segments, at least one, so rows read stay bounded however deep the
 * backlog. A message is handed on only from the run that covers its key's `from` (the front
 * covers every key below it): messages of the key after a gap may be preceded by unread older
 * ones, and wait for a run that reaches them. `runs` receives each run, for `fairFroms`.
 */
export function* readFair<C extends Orderable>(
  open: (from: number, front: boolean) => Iterator<C>,
  options: {
    front: number;
    window: number;
    starts: FairStart[];
    segment: (candidate: C) => number;
    from: (group: string) => number;
  },
  runs: FairRun<C>[],
): Generator<C> {
  const starts = options.starts
    .filter((s) => s.from > options.front)
    .sort((a, b) => a.from - b.from);
  let next = 0;
  let start = options.front;
  let startsBudget = options.window;
  /** Keys of the starts the current run covers, and how many more of theirs to look for. */
  const wanted = new Map<string, number>();
  const cover = (below: (from: number) => boolean) => {
    for (; next < starts.length && below(starts[next].from); next++) {
      const { group, want } = starts[next];
      if (want > 0) wanted.set(group, want);
    }
  };
  for (;;) {
    const run: FairRun<C> = { start, readTo: start, exhausted: false, looked: [] };
    const front = runs.length === 0;
    runs.push(run);
    const candidates = open(start, front);
    try {
      let read = 0;
      let segment: number | null = null;
      for (;;) {
        const step = candidates.next();
        if (step.done) {
          run.exhausted = true;
          run.readTo = Number.POSITIVE_INFINITY;
          return;
        }
        const candidate = step.value;
        const at = options.segment(candidate);
        if (at !== segment) {
          // The segment before was read whole: so was any start below this one.
          run.readTo = at;
          cover((from) => from < at);
          const done = front ? read >= options.window : wanted.size === 0 || startsBudget <= 0;
          if (segment !== null && done) break;
          cover((from) => from === at);
          segment = at;
        }
        read++;
        if (!front) startsBudget--;
        if (front || options.from(candidate.group) >= run.start) {
          const want = wanted.get(candidate.group);
          if (want !== undefined && want <= 1) wanted.delete(candidate.group);
          else if (want !== undefined) wanted.set(candidate.group, want - 1);
          run.looked.push(candidate);
          yield candidate;
        }
      }
    } finally {
      candidates.return?.();
    }
    wanted.clear();
    if (next >= starts.length) return;
    start = starts[next].from;
  }
}

/**
 * After a fair receive: where each key the runs tell about may next have a fresh message. A
 * key handed on by a run: the first segment where one of its messages is still fresh, else
 * where the run stopped reading, or null when the run read to the end (it has none). A key of
 * `keys` whose `from` a run read past without meeting it: the same.
 */
export function fairFroms<C extends Orderable>(
  runs: FairRun<C>[],
  keys: Iterable<FairStart>,
  options: { segment: (candidate: C) => number; fresh: (candidate: C) => boolean },
): Map<string, number | null> {
  const froms = new Map<string, number | null>();
  const past = (run: FairRun<C>) => (run.exhausted ? null : run.readTo);
  for (const run of runs) {
    const left = new Map<string, number>();
    for (const candidate of run.looked) {
      if (options.fresh(candidate) && !left.has(candidate.group)) {
        left.set(candidate.group, options.segment(candidate));
      }
    }
    for (const { group } of run.looked) froms.set(group, left.get(group) ?? past(run));
  }
  for (const { group, from } of keys) {
    if (froms.has(group)) continue;
    const run = runs.find((r, i) => (i === 0 || r.start <= from) && from < r.readTo);
    if (run) froms.set(group, past(run));
  }
  return froms;
}
