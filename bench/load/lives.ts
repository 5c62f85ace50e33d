/**
 * Whole message lives on Sluice, for what they cost: every message is sent (with a dedupId),
 * received and acked, and the HTTP requests it took are counted. The rows they wrote come from
 * the partition's own usage counters, read by the caller before and after.
 */
import { makeBodies } from "./body.ts";
import type { ReceivedMessage, SluiceDriver } from "./sluice.ts";

export type LivesMode = "batched" | "single" | "lone";

export interface LivesOptions {
  mode: LivesMode;
  messages: number;
}

export interface LivesSummary {
  mode: LivesMode;
  messages: number;
  /** HTTP requests made (each a Worker request), by kind; empty long polls included. */
  requests: { send: number; receive: number; ack: number };
  elapsedMs: number;
}

/** Batch size, concurrency and receive size of each mode (bench/README.md, Scenarios). */
const SHAPES = {
  batched: { senders: 1, batch: 100, consumers: 1, receiveMax: 100 },
  single: { senders: 32, batch: 1, consumers: 8, receiveMax: 10 },
} as const;

export async function lives(driver: SluiceDriver, options: LivesOptions): Promise<LivesSummary> {
  const start = performance.now();
  if (options.mode === "lone") {
    for (let life = 0; life < options.messages; life++) {
      await sendAll(driver, 1, 1, 1);
      const { messages: received } = await driver.receive(1);
      if (received.length !== 1) throw new Error(`message ${life + 1}: a receive returned none`);
      await ackAll(driver, received);
    }
  } else {
    const shape = SHAPES[options.mode];
    await sendAll(driver, options.messages, shape.senders, shape.batch);
    await receiveAll(driver, options.messages, shape.consumers, shape.receiveMax);
  }
  const { send, receive, ack } = driver.requests;
  return {
    mode: options.mode,
    messages: options.messages,
    requests: { send, receive, ack },
    elapsedMs: Math.round(performance.now() - start),
  };
}

/** Sends `count` messages from `senders` loops, `batch` per request; a refusal ends the run. */
async function sendAll(driver: SluiceDriver, count: number, senders: number, batch: number) {
  let claimed = 0;
  const sender = async () => {
    while (claimed < count) {
      const size = Math.min(batch, count - claimed);
      claimed += size;
      const result = await driver.send(makeBodies(size));
      if (result.kind !== "ok") {
        throw new Error(`a send was refused (${result.status}): the lives would not be whole`);
      }
    }
  };
  await Promise.all(Array.from({ length: senders }, sender));
}

/** `consumers` loops receive up to `max` and ack each receive in one call, until `count`. */
async function receiveAll(driver: SluiceDriver, count: number, consumers: number, max: number) {
  let received = 0;
  const deadline = performance.now() + 120_000;
  const consumer = async () => {
    while (received < count) {
      if (performance.now() > deadline) {
        throw new Error(`received ${received} of ${count} messages within 120 s`);
      }
      const { messages } = await driver.receive(max);
      if (messages.length === 0) continue;
      received += messages.length;
      await ackAll(driver, messages);
    }
  };
  await Promise.all(Array.from({ length: consumers }, consumer));
}

async function ackAll(driver: SluiceDriver, messages: ReceivedMessage[]) {
  const acked = await driver.ack(messages);
  if (acked !== messages.length) {
    throw new Error(`an ack settled ${acked} of ${messages.length} messages`);
  }
}
