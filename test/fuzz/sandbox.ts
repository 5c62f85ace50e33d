/**
 * The queue the fuzz tests aim at, and the check every fuzzed request goes through: never a
 * 5xx, a refusal in the door's own shape, and a refused request changes nothing. "Nothing" is
 * a snapshot of every queue's definition and stats, the fixture queue's messages and dead
 * letters, and the API keys, taken before the request and compared after.
 *
 * The fixture queue holds a leased message (with a ready one of its key behind it), free and
 * delayed messages and a dead letter. A request that is accepted and may have changed state
 * gets a fresh fixture for the next run.
 */
import { SELF } from "cloudflare:test";
import { expect } from "vitest";
import type { QueueView } from "../../worker/schemas.ts";
import { createQueue, ok, queueName, receive, send, settleDeadLetters } from "../worker/api.ts";

export interface Fixture {
  queue: string;
  deadId: string;
  /** Receipts of leases that are over: an acked message's and a dead one's. */
  stale: string[];
}

export interface Answer {
  /** The request, in words, for failure messages. */
  what: string;
  status: number;
  headers: Headers;
  text: string;
}

/** Sends a request through the Worker and reads the whole answer. */
export async function answerTo(request: Request): Promise<Answer> {
  const response = await SELF.fetch(request);
  return {
    what: `${request.method} ${new URL(request.url).pathname}`,
    status: response.status,
    headers: response.headers,
    text: await response.text(),
  };
}

export interface Expectation {
  /** An accepted request may have changed state, so the next run gets a fresh fixture. */
  mutates: boolean;
  /**
   * An accepted request only adds messages (a send): the fixture stays as rich as it was, so
   * the next run starts from a fresh snapshot of it rather than from a fresh fixture.
   */
  onlyAdds?: boolean;
  /** Even an accepted request must change nothing (settling forged receipts). */
  unchanged?: boolean;
  /** Asserts a 4xx is in the door's refusal shape. */
  refusal: (answer: Answer, what: string) => void;
}

/**
 * A fresh fixture queue, after deleting every queue (earlier fixtures, queues a fuzzed create
 * made), so no lease a fuzzed receive took elsewhere can end during a later comparison. Its
 * leases last an hour, so none ends during the test either.
 */
async function makeFixture(): Promise<Fixture> {
  const { queues } = await ok("GET", "/v1/queues");
  for (const { name } of queues) await ok("DELETE", `/v1/queues/${name}`);
  const queue = queueName("fz");
  await createQueue(queue, {
    partitions: 2,
    maxAttempts: 1,
    maxMessageBytes: 4096,
    visibilityTimeout: 3_600,
  });
  await send(queue, [{ body: "dies", key: "d" }]);
  const [dying] = await receive(queue, { wait: 1 });
  await ok("POST", `/v1/queues/${queue}/nack`, { json: { receipts: [dying.receipt] } });
  await settleDeadLetters(queue, 2);
  await send(queue, [{ body: "acked", key: "s" }]);
  const [acked] = await receive(queue, { wait: 1 });
  await ok("POST", `/v1/queues/${queue}/ack`, { json: { receipts: [acked.receipt] } });
  await send(queue, [
    { body: "leased", key: "a" },
    { body: "behind", key: "a" },
    { body: { free: true } },
    { body: "later", key: "c", delaySeconds: 3_600 },
  ]);
  await receive(queue, { partition: 0 });
  await receive(queue, { partition: 1 });
  return { queue, deadId: dying.id, stale: [acked.receipt, dying.receipt] };
}

async function snapshot(fixture: Fixture) {
  const [queues, peeked, dead, keys] = await Promise.all([
    ok("GET", "/v1/queues"),
    ok("GET", `/v1/queues/${fixture.queue}/messages?limit=100`),
    ok("GET", `/v1/queues/${fixture.queue}/dlq?limit=100`),
    ok("GET", "/v1/keys"),
  ]);
  return {
    // The oldest message's age grows by itself, and `usage` meters the work every call does,
    // these snapshots' reads included: neither says whether a refusal changed anything.
    queues: queues.queues.map(({ name, config, stats }: QueueView) => {
      const { oldestAgeMs: _age, usage: _usage, ...rest } = stats;
      return { name, config, stats: rest };
    }),
    peeked: peeked.messages,
    dead: dead.messages,
    keys: keys.keys,
  };
}

export class Sandbox {
  #fixture: Fixture | null = null;
  #before: Awaited<ReturnType<typeof snapshot>> | null = null;

  get fixture(): Fixture {
    if (this.#fixture === null) throw new Error("call sandbox.reset() first");
    return this.#fixture;
  }

  async reset(): Promise<void> {
    this.#fixture = await makeFixture();
    this.#before = null;
  }

  /** Sends one fuzzed request (`send`), checks what it did, and returns the answer. */
  async expectSafe(send: () => Promise<Answer>, expectation: Expectation): Promise<Answer> {
    this.#before ??= await snapshot(this.fixture);
    const answer = await send();
    const what = `${answer.what} answered ${answer.status}`;
    expect(answer.status, `${what}: ${answer.text.slice(0, 500)}`).toBeLessThan(500);
    if (answer.status >= 400) expectation.refusal(answer, what);
    if (answer.status >= 400 || expectation.unchanged) {
      expect(await snapshot(this.fixture), `${what} and changed state`).toEqual(this.#before);
    } else if (expectation.onlyAdds) {
      this.#before = null;
    } else if (expectation.mutates) {
      await this.reset();
    }
    return answer;
  }
}
