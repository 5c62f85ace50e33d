import { describe, expect, it } from "vitest";
import { sleep } from "../../client/http.ts";
import type { ReceivedMessage } from "../../client/index.ts";
import { client, queueName, scriptedFetch, settleDeadLetters } from "./support.ts";

const admin = client();

/** Stops the consumer once `done` is true, checking after each handled message. */
function stopWhen(done: () => boolean) {
  const controller = new AbortController();
  return {
    signal: controller.signal,
    check: () => {
      if (done()) controller.abort();
    },
  };
}

describe("consume loop", () => {
  it("hands every message to the handler and acks it when the handler returns", async () => {
    const queue = queueName();
    await admin.putQueue(queue);
    await admin.sendBatch(
      queue,
      [1, 2, 3].map((n) => ({ body: n, key: "one-key" })),
    );
    const seen: unknown[] = [];
    const stop = stopWhen(() => seen.length === 3);
    await admin.consume(
      queue,
      (message) => {
        seen.push(message.body);
        stop.check();
      },
      { wait: 1, signal: stop.signal },
    );
    expect(seen).toEqual([1, 2, 3]);
    expect((await admin.getQueue(queue)).stats).toMatchObject({ ready: 0, leased: 0, acked: 3 });
  });

  it("acks each message on the next receive: one request a message", async () => {
    const queue = queueName();
    await admin.putQueue(queue, { ordering: "unordered" });
    await admin.sendBatch(queue, [{ body: 1 }, { body: 2 }, { body: 3 }]);
    const { fetch, requests } = scriptedFetch();
    const seen: ReceivedMessage[] = [];
    const stop = stopWhen(() => seen.length === 3);
    await client({ fetch }).consume(
      queue,
      (message) => {
        seen.push(message);
        stop.check();
      },
      { wait: 1, visibilityTimeout: 30, signal: stop.signal },
    );

    // Each receive carries the last message's ack; the last one, stopped, goes in an ack call.
    const [first, second, third] = seen.map((message) => message.receipt);
    expect(
      requests.map(({ path, body }) => [path.split("/").at(-1), body.ack ?? body.receipts]),
    ).toEqual([
      ["receive", undefined],
      ["receive", [first]],
      ["receive", [second]],
      ["ack", [third]],
    ]);
    expect((await admin.getQueue(queue)).stats).toMatchObject({ ready: 0, leased: 0, acked: 3 });
  });

  it("nacks with the error's message when the handler throws, until the message is dead", async () => {
    const queue = queueName();
    await admin.putQueue(queue, { maxAttempts: 3 });
    const { id } = await admin.send(queue, { to: "nobody@example.com" });
    const attempts: number[] = [];
    const stop = stopWhen(() => attempts.length === 3);
    await admin.consume(
      queue,
      (message) => {
        attempts.push(message.attempts);
        stop.check();
        throw new Error(`mailbox does not exist (attempt ${message.attempts})`);
      },
      { wait: 1, nackDelaySeconds: 0, signal: stop.signal },
    );
    expect(attempts).toEqual([1, 2, 3]);

    await settleDeadLetters(queue);
    const dead = await admin.getDeadLetter(queue, id);
    expect(dead.attempts).toBe(3);
    expect(dead.failures.map(({ reason, by }) => [reason, by])).toEqual([
      ["mailbox does not exist (attempt 1)", "nack"],
      ["mailbox does not exist (attempt 2)", "nack"],
      ["mailbox does not exist (attempt 3)", "nack"],
    ]);
    expect((await admin.getQueue(queue)).stats).toMatchObject({ ready: 0, deadLettered: 1 });
  });

  it("keeps extending the lease while a slow handler runs, so nobody else gets the message", async () => {
    const queue = queueName();
    // An expired lease would make the message visible again at once (no retry delay).
    await admin.putQueue(queue, { visibilityTimeout: 1, retry: { initialDelay: 0 } });
    await admin.send(queue, "slow work");
    const handled: ReceivedMessage[] = [];
    let stolen: ReceivedMessage[] | undefined;
    const stop = stopWhen(() => handled.length === 1);
    await admin.consume(
      queue,
      async (message) => {
        // Well past the 1-second lease: without extensions the message would be visible again.
        await sleep(1_600);
        stolen = await admin.receive(queue);
        await sleep(600);
        handled.push(message);
        stop.check();
      },
      { wait: 1, signal: stop.signal },
    );
    expect(stolen).toEqual([]);
    expect(handled.map((message) => message.attempts)).toEqual([1]);
    expect((await admin.getQueue(queue)).stats).toMatchObject({ ready: 0, leased: 0, acked: 1 });
  });

  it("aborts the handler's signal when the lease is lost, and leaves the message alone", async () => {
    const queue = queueName();
    await admin.putQueue(queue, { visibilityTimeout: 1 });
    await admin.send(queue, "taken away");
    const errors: unknown[] = [];
    const stop = new AbortController();
    let abortedWith: unknown;
    await admin.consume(
      queue,
      async (message, { signal }) => {
        // Someone else settles the message: the next extension finds the lease gone.
        await admin.ack(queue, message.receipt);
        await new Promise((resolve) => signal.addEventListener("abort", resolve));
        abortedWith = signal.reason;
        stop.abort();
      },
      { wait: 1, signal: stop.signal, onError: (error) => errors.push(error) },
    );
    expect(abortedWith).toMatchObject({ kind: "conflict", code: "receipt_stale" });
    expect(errors).toEqual([abortedWith]);
    expect((await admin.getQueue(queue)).stats).toMatchObject({ acked: 1, ready: 0 });
  });

  it("runs up to `concurrency` handlers at once", async () => {
    const queue = queueName();
    await admin.putQueue(queue, { ordering: "unordered" });
    await admin.sendBatch(
      queue,
      Array.from({ length: 6 }, (_, n) => ({ body: n })),
    );
    let running = 0;
    let most = 0;
    let finished = 0;
    const stop = stopWhen(() => finished === 6);
    await admin.consume(
      queue,
      async () => {
        running += 1;
        most = Math.max(most, running);
        await sleep(100);
        running -= 1;
        finished += 1;
        stop.check();
      },
      { concurrency: 3, wait: 1, signal: stop.signal },
    );
    expect(most).toBe(3);
    expect((await admin.getQueue(queue)).stats.acked).toBe(6);
  });

  it("stops when its signal aborts, finishing and acking the handlers under way", async () => {
    const queue = queueName();
    await admin.putQueue(queue);
    await admin.send(queue, "in flight");
    const controller = new AbortController();
    let finishedAt = 0;
    const consuming = admin.consume(
      queue,
      async () => {
        controller.abort();
        await sleep(200);
        finishedAt = Date.now();
      },
      { wait: 1, signal: controller.signal },
    );
    await consuming;
    expect(finishedAt).toBeGreaterThan(0);
    expect((await admin.getQueue(queue)).stats).toMatchObject({ leased: 0, acked: 1 });
  });

  it("cuts a long poll short when stopped", async () => {
    const queue = queueName();
    await admin.putQueue(queue);
    const controller = new AbortController();
    const startedAt = Date.now();
    const consuming = admin.consume(queue, () => {}, { wait: 20, signal: controller.signal });
    await sleep(300);
    controller.abort();
    await consuming;
    expect(Date.now() - startedAt).toBeLessThan(5_000);
  });

  it("rejects on an error no retry can fix, such as a queue that does not exist", async () => {
    const failure = await admin
      .consume(queueName(), () => {}, { visibilityTimeout: 30, wait: 1 })
      .catch((error) => error);
    expect(failure).toMatchObject({ kind: "not_found", code: "queue_not_found" });
  });
});
