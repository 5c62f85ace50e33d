/**
 * What one group-commit round does with the calls that waited for it (group-commit.ts runs
 * the rounds; the shell runs each in one transaction). Contract: sends are checked and staged
 * one by one, so a refused send changes nothing and is answered alone; the round's acks are
 * one settle, so a segment they touch is written once; its receives are served by one lease
 * per visibility timeout and shared out in order of arrival (in fifo order one lease each, as
 * a lease hands a group's run to one consumer). Acks go before receives, so the groups and
 * limits they free count at once; a receive carrying acks (a consumer acking its last receive
 * with its next) has them settled with the round's other acks. Anything else that throws takes
 * the whole round back.
 */
import type {
  Acked,
  AckOutcome,
  ItemFailure,
  LeaseRef,
  NewMessage,
  PartitionContext,
  Received,
  SendOutcome,
} from "../../core/contract.ts";
import { MAX_BATCH } from "../../core/contract.ts";
import type { QueueConfig } from "../../core/queue-config.ts";
import { type CommitPolicy, type RoundResult, takeAll } from "./group-commit.ts";
import type { MessageLog, Unstated } from "./log.ts";

type Receive = {
  kind: "receive";
  context: PartitionContext;
  max: number;
  visibilityTimeout?: number;
  /** Leases to ack before leasing; the shell drops them once a round has settled them. */
  ack?: LeaseRef[];
  /** The long polls' signal count after this receive's round (its `receive` parks with it). */
  signals?: number;
};

/** A call waiting for a round. */
export type Work =
  | { kind: "send"; context: PartitionContext; messages: NewMessage[] }
  | Receive
  | { kind: "ack"; context: PartitionContext; leases: LeaseRef[] };

export type Answer = SendOutcome | Received | AckOutcome;

/**
 * The deployed partition's rounds: every waiting call, and after a round of several, up to
 * 2 ms for as many again, unless what waits already fills a row (MAX_BATCH messages sent,
 * acked or asked for). Two milliseconds is a fraction of a request's time through the router,
 * and it turns 32 senders' rounds of 5 or 6 messages (a row each) into rounds of ~10 through
 * the router and ~30 when they call the partition directly.
 */
export const GROUP_COMMIT: CommitPolicy<Work> = {
  take: takeAll,
  gathering: {
    ms: 2,
    weight: (work) => {
      if (work.kind === "send") return work.messages.length;
      if (work.kind === "ack") return work.leases.length;
      // Acks a receive carries weigh as an ack call's do.
      return work.max + (work.ack?.length ?? 0);
    },
    enough: MAX_BATCH,
  },
};

/** Runs a round's calls against the log; one answer per call, in order, stats to be added. */
export function runRound(
  log: MessageLog,
  work: Work[],
  now: number,
  config: QueueConfig,
): RoundResult<Unstated<Answer>>[] {
  const answers = new Map<Work, RoundResult<Unstated<Answer>>>();
  const sends = work.filter((item) => item.kind === "send");
  if (sends.length > 0) {
    const round = log.startRound(now, config);
    for (const send of sends) {
      try {
        answers.set(send, { outcome: log.writeSend(send.messages, round) });
      } catch (error) {
        answers.set(send, { error });
      }
    }
    log.endRound(round);
  }
  const acked = settleAcks(log, work, now);
  for (const item of work) {
    if (item.kind === "ack") answers.set(item, { outcome: acked.get(item) as Acked });
  }
  const receives = work.filter((item) => item.kind === "receive");
  for (const share of receiveShares(receives, config)) {
    const leased = log.lease(
      share.reduce((sum, receive) => sum + receive.max, 0),
      share[0].visibilityTimeout ?? config.visibilityTimeout,
      now,
      config,
    );
    let taken = 0;
    for (const receive of share) {
      const messages = leased.slice(taken, taken + receive.max);
      const ack = acked.get(receive);
      answers.set(receive, { outcome: ack ? { messages, ack } : { messages } });
      taken += receive.max;
    }
  }
  return work.map((item) => answers.get(item) as RoundResult<Unstated<Answer>>);
}

/** The round's acks, of ack calls and receives carrying them, in one settle; each call's share. */
function settleAcks(log: MessageLog, work: Work[], now: number): Map<Work, Acked> {
  const settling = work.flatMap((item): { item: Work; leases: LeaseRef[] }[] => {
    if (item.kind === "ack") return [{ item, leases: item.leases }];
    return item.kind === "receive" && item.ack ? [{ item, leases: item.ack }] : [];
  });
  const shares = new Map<Work, Acked>();
  if (settling.length === 0) return shares;
  const { failed } = log.ack(
    settling.flatMap(({ leases }) => leases),
    now,
  );
  // The failures come in lease order: one pass hands each call its own, renumbered.
  let offset = 0;
  let next = 0;
  for (const { item, leases } of settling) {
    const end = offset + leases.length;
    const own: ItemFailure[] = [];
    for (; next < failed.length && failed[next].index < end; next++) {
      own.push({ ...failed[next], index: failed[next].index - offset });
    }
    shares.set(item, { acked: leases.length - own.length, failed: own });
    offset = end;
  }
  return shares;
}

/** Receives one lease can serve together: those asking the same visibility timeout. */
function receiveShares(receives: Receive[], config: QueueConfig): Receive[][] {
  if (config.ordering === "fifo") return receives.map((receive) => [receive]);
  const shares = new Map<number, Receive[]>();
  for (const receive of receives) {
    const seconds = receive.visibilityTimeout ?? config.visibilityTimeout;
    const share = shares.get(seconds);
    if (share) share.push(receive);
    else shares.set(seconds, [receive]);
  }
  return [...shares.values()];
}
