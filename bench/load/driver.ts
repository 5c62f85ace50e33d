/** What a workload needs from a queue system: send durably, consume with acks, report depth. */
import type { BenchBody } from "./body.ts";

export type SendResult =
  /** Every message of the request is stored durably, as the system defines durability. */
  | { kind: "ok"; accepted: number }
  /** The system refused the request to protect itself (HTTP 429/503); nothing was stored. */
  | { kind: "shed"; status: number }
  | { kind: "error"; status: number | string };

export interface Consumers {
  /** Stops asking for messages; resolves once every consumer has acked what it held. */
  stop(): Promise<void>;
}

export interface Driver {
  /** One request carrying `bodies`; resolves when the system confirms them (or refuses). */
  send(bodies: BenchBody[]): Promise<SendResult>;
  /**
   * Starts `count` consumers. Each hands what it receives to `onMessages` (with the time it
   * arrived, performance.now()) and then acks it.
   */
  startConsumers(count: number, onMessages: (bodies: BenchBody[], at: number) => void): Consumers;
  /** Messages stored and not yet acked, or null when the system cannot say cheaply. */
  depth(): Promise<number | null>;
  close(): Promise<void>;
}
