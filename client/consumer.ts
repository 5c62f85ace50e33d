/**
 * The consume loop: lease with long polls, run the handler, keep the lease alive while it
 * runs, ack on success and nack with the error's message on failure.
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
import type { ReceivedMessage } from "./types.ts";

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

type Consumer = Pick<Sluice, "receive" | "ack" | "nack" | "extend" | "getQueue">;

/** After a receive failed its own retries too, the loop pauses longer before the next. */
const RECEIVE_BACKOFF = { baseDelayMs: 1_000, maxDelayMs: 30_000 };

/** The longest reason a nack may carry (the API's limit). */
const MAX_REASON_LENGTH = 1000;

export async function consume(
  client: Consumer,
  queue: string,
  handler: MessageHandler,
  options: ConsumeOptions,
): Promise<void> {
  const { concurrency = 1, wait = 20, signal, onError = console.error } = options;
  const visibilityTimeout =
    options.visibilityTimeout ?? (await client.getQueue(queue)).config.visibilityTimeout;
  const lease: Lease = { client, queue, visibilityTimeout, onError };
  const running = new Set<Promise<void>>();
  let fatal: unknown;
  for (let failures = 0; !signal?.aborted; ) {
    if (running.size >= concurrency) {
      await Promise.race(running);
      continue;
    }
    let messages: ReceivedMessage[];
    try {
      messages = await client.receive(queue, {
        max: concurrency - running.size,
        wait,
        visibilityTimeout,
        signal,
      });
      failures = 0;
    } catch (error) {
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
  await Promise.all(running);
  if (fatal !== undefined) throw fatal;
}

interface Lease {
  client: Consumer;
  queue: string;
  visibilityTimeout: number;
  onError: (error: unknown, message?: ReceivedMessage) => void;
}

/** Runs the handler on one message and settles it; never throws. */
async function handle(
  { client, queue, visibilityTimeout, onError }: Lease,
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
  try {
    const { failed } = outcome.ok
      ? await client.ack(queue, message.receipt)
      : await client.nack(queue, message.receipt, {
          reason: reasonOf(outcome.error),
          ...(nackDelaySeconds === undefined ? {} : { delaySeconds: nackDelaySeconds }),
        });
    if (failed.length > 0) {
      const action = outcome.ok ? "ack" : "nack";
      onError(
        new SluiceError({
          status: 409,
          code: failed[0].code,
          detail: `the ${action} of message ${message.id} did not settle; it will be delivered again`,
        }),
        message,
      );
    }
  } catch (error) {
    onError(error, message);
  }
}

/** The nack reason a thrown value gives: its message, within the API's limits. */
function reasonOf(error: unknown): string {
  const text = error instanceof Error ? error.message || error.name : String(error);
  return (text || "the handler failed").slice(0, MAX_REASON_LENGTH);
}
