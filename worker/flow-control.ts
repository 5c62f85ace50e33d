/**
 * Flow control's service calls (docs/architecture.md, "Flow control"): pausing and resuming a
 * queue or one key, a key's own limits, and flow control's part of a queue's stats. A queue's
 * pause is stored by every partition; a key's pause and limits by the one partition that holds
 * the key's messages, so they are exact without any coordination. Their part of a queue's
 * stats is flow-stats.ts.
 */
import type { FlowAnswer, FlowChange, KeyFlow } from "../core/flow.ts";
import type { KeyLimits, QueueRecord } from "../core/queue-config.ts";
import type { Outcome } from "./outcome.ts";
import { partitionForKey } from "./placement.ts";
import { contextOf, eachPartition, onQueue, partition } from "./service.ts";

export interface PauseState {
  key: string | null;
  paused: boolean;
  until: number | null;
}

/** Sends a change to the partition of its key, or to every partition for the whole queue. */
async function change(env: Env, record: QueueRecord, change: FlowChange): Promise<FlowAnswer[]> {
  if (change.key === null) {
    return eachPartition(env, record, (stub, context) => stub.flow(context, change));
  }
  const index = partitionForKey(change.key, record.config.partitions);
  return [await partition(env, record.name, index).flow(contextOf(record), change)];
}

/**
 * Pauses the queue, or one key: nothing more of it is leased (pull, push, WebSocket, the SQS
 * door) until resumed or `until`; sends are still taken and leases already out run on.
 */
export const pauseQueue = onQueue(
  async (env, record, options: { key?: string; until?: number }): Promise<Outcome<PauseState>> => {
    const key = options.key ?? null;
    const until = options.until ?? null;
    await change(env, record, { kind: "pause", key, until });
    return { ok: true, key, paused: true, until };
  },
);

/** Resumes the queue, or one key; waiting receives and push lanes look again at once. */
export const resumeQueue = onQueue(
  async (env, record, options: { key?: string }): Promise<Outcome<PauseState>> => {
    const key = options.key ?? null;
    await change(env, record, { kind: "resume", key });
    return { ok: true, key, paused: false, until: null };
  },
);

/** A key's flow control: its own limits, what applies, its pause, what it has out. */
export const getKeyFlow = onQueue(
  async (env, record, key: string): Promise<Outcome<{ key: KeyFlow }>> => {
    const [answer] = await change(env, record, { kind: "look", key });
    return { ok: true, key: answer.key as KeyFlow };
  },
);

/** Sets a key's own limits (replacing any it had; `{}` or null drops them). */
export const putKeyLimits = onQueue(
  async (
    env,
    record,
    key: string,
    limits: KeyLimits | null,
  ): Promise<Outcome<{ key: KeyFlow }>> => {
    const [answer] = await change(env, record, { kind: "limits", key, limits });
    return { ok: true, key: answer.key as KeyFlow };
  },
);
