/**
 * The consume loop: lease with long polls, run the handler, keep the lease alive while it
 * runs, ack on success and nack with the error's message on failure.
 *
 * An ack rides on the loop's next receive when that receive follows at once (the loop was
 * waiting for a handler to free a slot, as it always does with `concurrency` 1): one request
 * a message instead of two. The partition settles such acks before it leases or waits, so a
 * long poll does not hold them back. A handler that finishes while a receive is under way, or
 * while the loop backs off, acks in a call of its own.
 *
 * Leases are extended every third of the visibility timeout, so a slow handler keeps its
 * message; if an extension is refused (the lease was lost after all), the handler's signal
 * aborts and the message is neither acked nor nacked: it is delivered again. Stopping (the
 * `signal` option) cuts the long poll under way and lets every handler under way finish.
 * A message the cut poll had leased comes back after its visibility timeout: delivery is
 * at least once, never lost.
 */
import type { Sluice } from "./client.ts";
import { SluiceError } from "./errors.ts";
import { backoffDelay, sleep } from "./http.ts";
import type { ReceiptFailure, ReceivedMessage } from "./types.ts";

export interface MessageContext {
  /** Aborts when the lease is lost: the message will be delivered again, stop working on it. */
  signal: AbortSignal;
}

export type MessageHandler = (
  message: ReceivedMessage,
  context: MessageContext,
) => unknown | Promise<unknown>;

export interface ConsumeOptions {
  /** Messages handled at once. Default 1. */
  concurrency?: number;
  /** Lease length in seconds. Default: the queue's `visibilityTimeout`, read once at start. */
  visibilityTimeout?: number;
  /** Seconds each receive waits for messages (long poll), 0–20. Default 20. */
  wait?: number;
  /** Seconds before a nacked message comes back. Default: the queue's retry backoff. */
  nackDelaySeconds?: number;
  /** Stops the loop. */
  signal?: AbortSignal;
  /**
   * Told of failures the loop outlives: a receive that failed after its retries, an ack or
   * nack that did not settle, a lost lease. Default: `console.error`.
   */
  onError?: (error: unknown, message?: ReceivedMessage) => void;
}

type Consumer = Pick<Sluice, "receive" | "ackAndReceive" | "ack" | "nack" | "extend" | "getQueue">;

/** After a receive failed its own retries too, the loop pauses longer before the next. */
const RECEIVE_BACKOFF = { baseDelayMs: 1_000, maxDelayMs: 30_000 };

/** The longest reason a nack may carry (the API's limit). */
const MAX_REASON_LENGTH = 1000;

/** The most receipts one receive carries (the API's limit). */
const MAX_CARRIED_ACKS = 100;

export async function consume(
  client: Consumer,
  queue: string,
  handler: MessageHandler,
  options: ConsumeOptions,
): Promise<void> {
  const { concurrency = 1, wait = 20, signal, onError = console.error } = options;
  const visibilityTimeout =
    options.visibilityTimeout ?? (await client.getQueue(queue)).config.visibilityTimeout;
  const acks = new Acks(client, queue, onError);
  const lease: Lease = { client, queue, visibilityTimeout, onError, acks };
  const running = new Set<Promise<void>>();
  let fatal: unknown;
  for (let failures = 0; !signal?.aborted; ) {
    if (running.size >= concurrency) {
      acks.carrying = true;
      await Promise.race(running);
      acks.carrying = false;
      continue;
    }
    const carried = acks.take();
    let messages: ReceivedMessage[];
    try {
      const asked = { max: concurrency - running.size, wait, visibilityTimeout, signal };
      if (carried.length === 0) {
        messages = await client.receive(queue, asked);
      } else {
        const answer = await client.ackAndReceive(queue, receiptsOf(carried), asked);
        acks.report(carried, answer.acked.failed);
        messages = answer.messages;
      }
      failures = 0;
    } catch (error) {
      // Refused with an answer, the receive acked nothing; without one (the network, or the
      // stop cutting it) it may have, and acking again then fails for nothing worth telling.
      if (carried.length > 0) {
        await acks.send(carried, error instanceof SluiceError && error.status !== 0);
      }
      if (signal?.aborted) break;
      if (!(error instanceof SluiceError && error.retryable)) {
        fatal = error;
        break;
      }
      onError(error);
      failures += 1;
      await sleep(backoffDelay(failures, RECEIVE_BACKOFF), signal).catch(() => {});
      continue;
    }
    for (const message of messages) {
      const work = handle(lease, message, handler, options.nackDelaySeconds).finally(() =>
        running.delete(work),
      );
      running.add(work);
    }
  }
  // Stopped while waiting for a slot: what the next receive would have carried.
  await acks.send(acks.take(), true);
  await Promise.all(running);
  if (fatal !== undefined) throw fatal;
}

type OnError = (error: unknown, message?: ReceivedMessage) => void;

interface Lease {
  client: Consumer;
  queue: string;
  visibilityTimeout: number;
  onError: OnError;
  acks: Acks;
}

/** Where a handled message's ack goes: onto the loop's next receive, or a call of its own. */
class Acks {
  /** True while the loop waits for a slot: its next receive follows a handler's end at once. */
  carrying = false;
  #carried: ReceivedMessage[] = [];

  constructor(
    private readonly client: Consumer,
    private readonly queue: string,
    private readonly onError: OnError,
  ) {}

  ack(message: ReceivedMessage): Promise<void> {
    if (this.carrying && this.#carried.length < MAX_CARRIED_ACKS) {
      this.#carried.push(message);
      return Promise.resolve();
    }
    return this.send([message], true);
  }

  /** The acks the next receive carries. */
  take(): ReceivedMessage[] {
    return this.#carried.splice(0);
  }

  /** Acks in a call of their own; `tell` false when a lost request may have acked them. */
  async send(messages: ReceivedMessage[], tell: boolean): Promise<void> {
    if (messages.length === 0) return;
    try {
      const { failed } = await this.client.ack(this.queue, receiptsOf(messages));
      if (tell) this.report(messages, failed);
    } catch (error) {
      if (tell) this.onError(error);
    }
  }

  /** Tells of each ack that did not settle. */
  report(messages: ReceivedMessage[], failed: ReceiptFailure[]): void {
    for (const { receipt, code } of failed) {
      const message = messages.find((candidate) => candidate.receipt === receipt);
      this.onError(notSettled("ack", code, message?.id), message);
    }
  }
}

function receiptsOf(messages: ReceivedMessage[]): string[] {
  return messages.map((message) => message.receipt);
}

function notSettled(action: "ack" | "nack", code: string, id: string | undefined): SluiceError {
  return new SluiceError({
    status: 409,
    code,
    detail: `the ${action} of message ${id} did not settle; it will be delivered again`,
  });
}

/** Runs the handler on one message and settles it; never throws. */
async function handle(
  { client, queue, visibilityTimeout, onError, acks }: Lease,
  message: ReceivedMessage,
  handler: MessageHandler,
  nackDelaySeconds: number | undefined,
): Promise<void> {
  const lost = new AbortController();
  let finished = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const renew = async () => {
    try {
      const { failed } = await client.extend(queue, message.receipt, visibilityTimeout);
      const refused = failed.find((item) => item.code !== "overloaded");
      if (refused !== undefined && !finished) {
        lost.abort(
          new SluiceError({
            status: 409,
            code: refused.code,
            detail: `the lease on message ${message.id} was lost; it will be delivered again`,
          }),
        );
        onError(lost.signal.reason, message);
        return;
      }
    } catch (error) {
      onError(error, message);
    }
    if (!finished) timer = setTimeout(renew, (visibilityTimeout * 1000) / 3);
  };
  timer = setTimeout(renew, (visibilityTimeout * 1000) / 3);

  let outcome: { ok: true } | { ok: false; error: unknown };
  try {
    await handler(message, { signal: lost.signal });
    outcome = { ok: true };
  } catch (error) {
    outcome = { ok: false, error };
  } finally {
    finished = true;
    clearTimeout(timer);
  }
  if (lost.signal.aborted) return;
  if (outcome.ok) return acks.ack(message);
  try {
    const { failed } = await client.nack(queue, message.receipt, {
      reason: reasonOf(outcome.error),
      ...(nackDelaySeconds === undefined ? {} : { delaySeconds: nackDelaySeconds }),
    });
    if (failed.length > 0) onError(notSettled("nack", failed[0].code, message.id), message);
  } catch (error) {
    onError(error, message);
  }
}

/** The nack reason a thrown value gives: its message, within the API's limits. */
function reasonOf(error: unknown): string {
  const text = error instanceof Error ? error.message || error.name : String(error);
  return (text || "the handler failed").slice(0, MAX_REASON_LENGTH);
}
