import { DurableObject } from "cloudflare:workers";
import type {
  AckOutcome,
  ExtendOutcome,
  LeasedMessage,
  NackOutcome,
  NewMessage,
  PartitionContext,
  PartitionStats,
  PeekedMessage,
  ReceiveOptions,
  SendOutcome,
} from "./messages.ts";

/** SKELETON — being written. Signatures are the contract. */
export class Partition extends DurableObject<Env> {
  async send(context: PartitionContext, messages: NewMessage[]): Promise<SendOutcome> {
    throw new Error("not yet");
  }
  async receive(
    context: PartitionContext,
    options: ReceiveOptions,
  ): Promise<{ messages: LeasedMessage[]; stats: PartitionStats }> {
    throw new Error("not yet");
  }
  async ack(context: PartitionContext, receipts: string[]): Promise<AckOutcome> {
    throw new Error("not yet");
  }
  async nack(
    context: PartitionContext,
    receipts: string[],
    options: { delaySeconds?: number; reason?: string },
  ): Promise<NackOutcome> {
    throw new Error("not yet");
  }
  async extend(
    context: PartitionContext,
    receipts: string[],
    visibilityTimeout: number,
  ): Promise<ExtendOutcome> {
    throw new Error("not yet");
  }
  async peek(
    context: PartitionContext,
    options: { limit: number; after?: number },
  ): Promise<{ messages: PeekedMessage[]; stats: PartitionStats }> {
    throw new Error("not yet");
  }
  async purge(context: PartitionContext): Promise<{ purged: number; stats: PartitionStats }> {
    throw new Error("not yet");
  }
  async stats(context: PartitionContext): Promise<PartitionStats> {
    throw new Error("not yet");
  }
  /** The queue was deleted: drop every row and the alarm. */
  async destroy(): Promise<void> {
    throw new Error("not yet");
  }
}
