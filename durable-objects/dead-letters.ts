import { DurableObject } from "cloudflare:workers";
import type { DeadLetterPage, DeadLetterQuery, DeadMessage } from "./messages.ts";

/** SKELETON — being written. Signatures are the contract. */
export class DeadLetters extends DurableObject<Env> {
  /** Idempotent by message id: a repeated hand-off stores one copy. Returns ids now held. */
  async accept(messages: DeadMessage[]): Promise<{ accepted: number }> {
    throw new Error("not yet");
  }
  async list(query: DeadLetterQuery): Promise<DeadLetterPage> {
    throw new Error("not yet");
  }
  async get(id: string): Promise<DeadMessage | null> {
    throw new Error("not yet");
  }
  async getMany(ids: string[]): Promise<DeadMessage[]> {
    throw new Error("not yet");
  }
  async remove(ids: string[]): Promise<{ removed: number }> {
    throw new Error("not yet");
  }
  async purge(): Promise<{ purged: number }> {
    throw new Error("not yet");
  }
  async count(): Promise<number> {
    throw new Error("not yet");
  }
}
