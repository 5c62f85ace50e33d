/**
 * What the crash test's clients saw, and the verdict on it. The ledger is written by the
 * producers and consumers as they go (`run.ts`); `judge` reads it after the drain, beside the
 * dead letters and the queue's stats, and answers Sluice's guarantees as counts:
 *
 * - **lost**: a message whose send was answered 2xx and that was never delivered nor
 *   dead-lettered. Also counted: a stored message whose last lease was neither acked nor
 *   ended in the dead-letter queue (it vanished from the queue unfinished).
 * - **duplicated**: deliveries after a message's first that a nack does not explain. Each is
 *   allowed when the lease before it was not acked (it expired, or its ack failed because
 *   the runtime died); one after a confirmed ack is `unexplained`.
 * - **reordered**: a later message of a key first delivered before the earlier one was
 *   settled (acked or dead-lettered). A run of one key's messages leased together in one
 *   answer, in order, is SQS's FIFO behaviour and allowed.
 * - **locks broken**: a message of a key handed out while another message of that key was
 *   certainly leased (by an earlier answer, before that lease was settled or had ended).
 * - **dead letters**: every message that used its last attempt without an ack is in the
 *   dead-letter queue, and every dead letter has exactly maxAttempts attempts and failures.
 * - **stats**: the queue's counters agree with what the clients counted and the drain found.
 *
 * Times are epoch ms from the one machine that runs both the clients and the runtime, so a
 * client's time and a dead letter's `diedAt` compare.
 */

/** One message a producer asked to send; `ref` is its dedupId and is in its body. */
export interface SendRecord {
  ref: string;
  key: string;
  /** Its place in its key's order: 0, 1, 2, … */
  index: number;
  /** The id from the first 2xx answer that listed it; null while unanswered. */
  id: string | null;
  /** Requests that carried it (retries after a failure included). */
  tries: number;
  /** An answer said `duplicate: true`: a retry found the copy an earlier try stored. */
  answeredDuplicate: boolean;
}

/**
 * How a consumer ended one lease. `acked`/`nacked`: the answer confirmed it; `*Stale`: the
 * receipt was refused as stale (the lease had ended); `*Unknown`: no answer (the runtime died
 * or the request failed), so the outcome is unknown; `vanished`: the consumer did nothing.
 */
export type Fate =
  | "acked"
  | "ackStale"
  | "ackUnknown"
  | "nacked"
  | "nackStale"
  | "nackUnknown"
  | "vanished";

export interface DeliveryRecord {
  id: string;
  ref: string;
  key: string;
  index: number;
  /** The attempt the server counted for this lease. */
  attempts: number;
  /** The receive answer it came in, and its place there. */
  batch: number;
  position: number;
  /** When the receive request was sent and when its answer arrived. */
  requestedAt: number;
  receivedAt: number;
  /** When the lease ends unless settled first (the server's clock). */
  leaseExpiresAt: number;
  fate: Fate;
  /** When the first ack or nack request for this lease was sent; null when vanished. */
  settleSentAt: number | null;
}

export interface DeadRecord {
  id: string;
  ref: string;
  attempts: number;
  failures: number;
  diedAt: number;
}

/** The queue as the drain left it: its stats and what a peek still shows. */
export interface FinalState {
  ready: number;
  leased: number;
  delayed: number;
  deadLettered: number;
  sent: number;
  acked: number;
  backlogBytes: number;
  peeked: number;
}

export interface History {
  sends: SendRecord[];
  deliveries: DeliveryRecord[];
  dead: DeadRecord[];
  final: FinalState;
  maxAttempts: number;
}

export interface Verdict {
  /** Messages whose sends were answered 2xx. */
  sent: number;
  /** Distinct messages received at least once. */
  delivered: number;
  /** Redeliveries after an unacked lease (expiry or crash). */
  duplicated: number;
  /** Redeliveries after a confirmed nack: retries, as asked. */
  retried: number;
  /** Redeliveries after a confirmed ack: never allowed. */
  unexplained: number;
  reordered: number;
  /** Leases of two messages of one key that overlapped (from different answers). */
  locksBroken: number;
  lost: number;
  deadLettered: number;
  /** Dedup ids that ended up as two stored messages. */
  storedTwice: number;
  /** Deliveries of a message whose attempt count did not grow: a forgotten write. */
  attemptsNotGrowing: number;
  /** Messages that used their last attempt unacked yet are not dead letters. */
  missingDeadLetters: number;
  /** Dead letters with the wrong attempts, or that a confirmed ack had settled. */
  wrongDeadLetters: number;
  /** Each disagreement between the queue's stats and the ledger, in words. */
  statsMismatches: string[];
  /** The first few violations, in words, to start a diagnosis from. */
  examples: string[];
  ok: boolean;
}

const EXAMPLES_KEPT = 12;

const ACKED: ReadonlySet<Fate> = new Set(["acked", "ackUnknown"]);

export function judge({ sends, deliveries, dead, final, maxAttempts }: History): Verdict {
  const examples: string[] = [];
  const note = (text: string) => {
    if (examples.length < EXAMPLES_KEPT) examples.push(text);
  };

  const byId = groupBy(deliveries, (delivery) => delivery.id);
  for (const list of byId.values()) list.sort((a, b) => a.receivedAt - b.receivedAt);
  const deadById = new Map(dead.map((record) => [record.id, record]));

  // Every id each dedup id was stored under, from answers, deliveries and dead letters.
  const idsByRef = new Map<string, Set<string>>();
  const stored = (ref: string, id: string) => {
    const ids = idsByRef.get(ref) ?? new Set<string>();
    ids.add(id);
    idsByRef.set(ref, ids);
  };
  for (const send of sends) if (send.id !== null) stored(send.ref, send.id);
  for (const delivery of deliveries) stored(delivery.ref, delivery.id);
  for (const record of dead) stored(record.ref, record.id);
  let storedTwice = 0;
  for (const [ref, ids] of idsByRef) {
    if (ids.size > 1) {
      storedTwice++;
      note(`dedup id ${ref} was stored as ${ids.size} messages: ${[...ids].join(", ")}`);
    }
  }

  const answered = sends.filter((send) => send.id !== null);
  let lost = 0;
  for (const send of answered) {
    const id = send.id as string;
    if (!byId.has(id) && !deadById.has(id)) {
      lost++;
      note(`${send.ref} (${id}) was answered 2xx but never delivered nor dead-lettered`);
    }
  }

  let duplicated = 0;
  let retried = 0;
  let unexplained = 0;
  let attemptsNotGrowing = 0;
  let missingDeadLetters = 0;
  let wrongDeadLetters = 0;
  for (const [id, list] of byId) {
    for (let i = 1; i < list.length; i++) {
      const before = list[i - 1];
      if (list[i].attempts <= before.attempts) {
        attemptsNotGrowing++;
        note(`${before.ref} was delivered at attempt ${before.attempts}, then ${list[i].attempts}`);
      }
      if (before.fate === "nacked") retried++;
      else duplicated++;
      if (before.fate === "acked") {
        unexplained++;
        note(`${before.ref} was delivered again after a confirmed ack`);
      }
    }
    const last = list[list.length - 1];
    const isDead = deadById.has(id);
    if (isDead && list.some((delivery) => delivery.fate === "acked")) {
      wrongDeadLetters++;
      note(`${last.ref} is a dead letter although an ack of it was confirmed`);
    }
    if (!isDead && !ACKED.has(last.fate)) {
      if (last.attempts >= maxAttempts) {
        missingDeadLetters++;
        note(
          `${last.ref} used attempt ${last.attempts} of ${maxAttempts} unacked (${last.fate}) but is no dead letter`,
        );
      } else {
        lost++;
        note(
          `${last.ref} ended ${last.fate} at attempt ${last.attempts} and is neither redelivered nor dead`,
        );
      }
    }
  }
  for (const record of dead) {
    if (record.attempts !== maxAttempts || record.failures !== maxAttempts) {
      wrongDeadLetters++;
      note(
        `dead letter ${record.ref} has ${record.attempts} attempts and ${record.failures} failures, not ${maxAttempts}`,
      );
    }
  }

  const reordered = countReorders(sends, byId, deadById, note);
  const locksBroken = countBrokenLocks(deliveries, note);

  const storedIds = new Set<string>();
  for (const ids of idsByRef.values()) for (const id of ids) storedIds.add(id);
  const statsMismatches = compareStats(final, {
    storedIds: storedIds.size,
    dead: dead.length,
    confirmedAcks: countLastFates(byId, deadById, (fate) => fate === "acked"),
    possibleAcks: countLastFates(byId, deadById, (fate) => ACKED.has(fate)),
  });

  const verdict = {
    sent: answered.length,
    delivered: byId.size,
    duplicated,
    retried,
    unexplained,
    reordered,
    locksBroken,
    lost,
    deadLettered: dead.length,
    storedTwice,
    attemptsNotGrowing,
    missingDeadLetters,
    wrongDeadLetters,
    statsMismatches,
    examples,
  };
  const ok =
    lost === 0 &&
    reordered === 0 &&
    locksBroken === 0 &&
    unexplained === 0 &&
    storedTwice === 0 &&
    attemptsNotGrowing === 0 &&
    missingDeadLetters === 0 &&
    wrongDeadLetters === 0 &&
    statsMismatches.length === 0;
  return { ...verdict, ok };
}

/**
 * For each pair of neighbours in a key's order, the later one's first delivery must come
 * after the earlier one was settled, or in the same answer right behind one of its leases.
 */
function countReorders(
  sends: SendRecord[],
  byId: Map<string, DeliveryRecord[]>,
  deadById: Map<string, DeadRecord>,
  note: (text: string) => void,
): number {
  const firstDelivery = (send: SendRecord) =>
    send.id === null ? undefined : byId.get(send.id)?.[0];
  /** When the message stopped being the one its key waits for; null if it never did. */
  const settledAt = (send: SendRecord): number | null => {
    if (send.id === null) return null;
    const dead = deadById.get(send.id);
    if (dead) return dead.diedAt;
    const last = byId.get(send.id)?.at(-1);
    return last && ACKED.has(last.fate) ? last.settleSentAt : null;
  };

  let reordered = 0;
  for (const ordered of groupBy(sends, (send) => send.key).values()) {
    ordered.sort((a, b) => a.index - b.index);
    for (let i = 1; i < ordered.length; i++) {
      const earlier = ordered[i - 1];
      const later = firstDelivery(ordered[i]);
      if (earlier.id === null || later === undefined) continue;
      const inSameRun = (byId.get(earlier.id) ?? []).some(
        (delivery) => delivery.batch === later.batch && delivery.position < later.position,
      );
      if (inSameRun) continue;
      const settled = settledAt(earlier);
      if (settled === null || settled > later.receivedAt) {
        reordered++;
        note(
          `${later.ref} was first delivered at ${later.receivedAt}, before ${earlier.ref} was settled (${settled ?? "never"})`,
        );
      }
    }
  }
  return reordered;
}

/**
 * A lease is certainly held from the moment its answer arrived until its settle request was
 * sent or it expired, whichever came first. Another message of the key handed out in an answer
 * requested and received wholly inside that time broke the key's lock.
 */
function countBrokenLocks(deliveries: DeliveryRecord[], note: (text: string) => void): number {
  let broken = 0;
  for (const ofKey of groupBy(deliveries, (delivery) => delivery.key).values()) {
    ofKey.sort((a, b) => a.receivedAt - b.receivedAt);
    for (const [i, held] of ofKey.entries()) {
      const heldUntil = Math.min(held.settleSentAt ?? Infinity, held.leaseExpiresAt);
      for (const other of ofKey.slice(i + 1)) {
        if (other.receivedAt >= heldUntil) break;
        if (other.id === held.id || other.batch === held.batch) continue;
        if (other.requestedAt >= held.receivedAt) {
          broken++;
          note(`${other.ref} was handed out while ${held.ref} was leased (until ${heldUntil})`);
        }
      }
    }
  }
  return broken;
}

function countLastFates(
  byId: Map<string, DeliveryRecord[]>,
  deadById: Map<string, DeadRecord>,
  counts: (fate: Fate) => boolean,
): number {
  let total = 0;
  for (const [id, list] of byId)
    if (!deadById.has(id) && counts(list[list.length - 1].fate)) total++;
  return total;
}

function compareStats(
  final: FinalState,
  seen: { storedIds: number; dead: number; confirmedAcks: number; possibleAcks: number },
): string[] {
  const mismatches: string[] = [];
  const expect = (holds: boolean, text: string) => {
    if (!holds) mismatches.push(text);
  };
  const held = final.ready + final.leased + final.delayed;
  expect(held === 0, `the drained queue still holds ${held} messages by its stats`);
  expect(final.peeked === 0, `a peek of the drained queue shows ${final.peeked} messages`);
  expect(final.backlogBytes === 0, `the drained queue counts ${final.backlogBytes} backlog bytes`);
  expect(
    final.deadLettered === seen.dead,
    `stats count ${final.deadLettered} dead letters, the dead-letter queue lists ${seen.dead}`,
  );
  expect(
    final.sent === seen.storedIds,
    `stats count ${final.sent} messages sent, the clients saw ${seen.storedIds} stored`,
  );
  expect(
    final.acked + final.deadLettered === final.sent,
    `stats: ${final.acked} acked + ${final.deadLettered} dead-lettered is not the ${final.sent} sent`,
  );
  expect(
    final.acked >= seen.confirmedAcks && final.acked <= seen.possibleAcks,
    `stats count ${final.acked} acked; the clients confirmed ${seen.confirmedAcks}, and at most ${seen.possibleAcks} can have been`,
  );
  return mismatches;
}

function groupBy<T>(items: T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}
