import { DurableObject } from "cloudflare:workers";
import type { QueueConfig, QueueConfigPatch } from "../worker/config.ts";

export type Scope = "produce" | "consume" | "admin";

export interface QueueRecord {
  name: string;
  config: QueueConfig;
  /** Increases on every change; partitions keep the newest they have seen. */
  version: number;
  createdAt: number;
  updatedAt: number;
}

export interface ApiKey {
  id: string;
  name: string;
  scopes: Scope[];
  /** Queue name patterns; `*` matches any run of characters. */
  queues: string[];
  /** Browser origins allowed to call with this key (CORS). */
  origins: string[];
  createdAt: number;
}

export type PutQueueOutcome =
  | { ok: true; created: boolean; queue: QueueRecord }
  | { ok: false; code: "invalid_config" | "partitions_shrink"; detail: string };

/** SKELETON — being written. Signatures are the contract. */
export class Catalog extends DurableObject<Env> {
  async putQueue(name: string, patch: QueueConfigPatch): Promise<PutQueueOutcome> {
    throw new Error("not yet");
  }
  async getQueue(name: string): Promise<QueueRecord | null> {
    throw new Error("not yet");
  }
  async listQueues(): Promise<QueueRecord[]> {
    throw new Error("not yet");
  }
  async deleteQueue(name: string): Promise<boolean> {
    throw new Error("not yet");
  }
  /** The secret is returned here and never again; only its hash is stored. */
  async createKey(input: Omit<ApiKey, "id" | "createdAt">): Promise<ApiKey & { secret: string }> {
    throw new Error("not yet");
  }
  async listKeys(): Promise<ApiKey[]> {
    throw new Error("not yet");
  }
  async deleteKey(id: string): Promise<boolean> {
    throw new Error("not yet");
  }
  /** Looks a key up by the SHA-256 hex of its secret. */
  async authenticate(secretHash: string): Promise<ApiKey | null> {
    throw new Error("not yet");
  }
}
