/**
 * Push lanes: for a queue with `push`, the alarm starts up to `push.concurrency` lanes. A lane
 * leases a batch as a pull consumer would (so a fifo group stays locked while its batch is
 * out, and the batch fits the RPC byte budget), delivers it (push.ts) and acks it on a 2xx or
 * fails it with the answer as the reason, until nothing is left or the round is over. Backoff
 * and dead-lettering therefore hold for push unchanged. Push work is due at once whenever a
 * lane is free and a message could be leased.
 */
import type { LeasedMessage, LeaseRef } from "../../core/contract.ts";
import { decodeReceipt } from "../../core/receipt.ts";
import {
  deliver,
  type PushConfig,
  type PushResult,
  pushLeaseSeconds,
  signingKey,
} from "../push.ts";

/**
 * A push round ends after this long (wall time): its lanes lease no new batch, and the next
 * alarm (due at once while messages wait) carries on. Keeps one alarm well inside the
 * runtime's limit.
 */
const PUSH_ROUND_MS = 60_000;

/** What the lanes need from the partition. */
export interface PushHost {
  /** The queue's push configuration now, or null when it has none (or went away). */
  push(): PushConfig | null;
  /** Whether a lease would find a message now. */
  receivable(): boolean;
  /** A number that changes with every change to the messages. */
  changes(): number;
  lease(max: number, visibilityTimeout: number): LeasedMessage[];
  settle(leases: LeaseRef[], result: PushResult): void;
  readonly identity: { queue: string; partition: number };
  /** Read at each delivery, so a changed secret applies to the next batch. */
  env(): Pick<Env, "SLUICE_PUSH_SIGNING_KEYS" | "SLUICE_PUSH_KEY_ID">;
  readonly fetcher: typeof fetch;
}

export class PushLanes {
  #busy = 0;
  /** `changes()` when a lane last found nothing: until it moves, looking again is pointless. */
  #emptyAt: number | null = null;

  constructor(private readonly host: PushHost) {}

  /** When push work is next due: now with a free lane and a message to lease, else never. */
  nextAlarm(now: number): number | null {
    const push = this.host.push();
    if (!push || this.#busy >= push.concurrency) return null;
    if (this.#emptyAt === this.host.changes()) return null;
    return this.host.receivable() ? now : null;
  }

  /** Starts lanes up to push.concurrency and waits for them. */
  async run(): Promise<void> {
    const push = this.host.push();
    if (!push) return;
    const until = Date.now() + PUSH_ROUND_MS;
    const lanes: Promise<void>[] = [];
    while (this.#busy < push.concurrency) {
      this.#busy++;
      lanes.push(
        this.#lane(until).finally(() => {
          this.#busy--;
        }),
      );
    }
    await Promise.all(lanes);
  }

  async #lane(until: number): Promise<void> {
    while (Date.now() < until) {
      const push = this.host.push();
      if (!push) return;
      const messages = this.host.lease(push.batchSize, pushLeaseSeconds(push));
      if (messages.length === 0) {
        this.#emptyAt = this.host.changes();
        return;
      }
      const batch = { ...this.host.identity, messages };
      const result = await deliver(push, batch, signingKey(this.host.env()), this.host.fetcher);
      this.host.settle(messages.map(leaseOf), result);
    }
  }
}

/** The lease a message was handed out under, from its receipt. */
function leaseOf(message: LeasedMessage): LeaseRef {
  const receipt = decodeReceipt(message.receipt);
  return { seq: message.seq, token: receipt?.token ?? "" };
}
