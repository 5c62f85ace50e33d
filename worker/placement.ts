/**
 * Which partition a message goes to. A message with a `key` (else a `dedupId`) always lands
 * on the same partition while the partition count stays the same, so its key's order and
 * its dedup window hold; growing a queue's partitions re-maps keys. Messages without either
 * go to the less loaded of two random partitions ("power of two choices"), judged by the
 * stats the partitions attached to their previous answers.
 */
import type { PartitionStats } from "../core/contract.ts";

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const encoder = new TextEncoder();

/** FNV-1a, 32 bits, over the UTF-8 bytes of `text`. */
export function fnv1a32(text: string): number {
  let hash = FNV_OFFSET_BASIS;
  for (const byte of encoder.encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, FNV_PRIME);
  }
  return hash >>> 0;
}

export function partitionForKey(key: string, partitions: number): number {
  return fnv1a32(key) % partitions;
}

/** Messages held by each partition, as last reported; the key is `queue/partition`. */
const loads = new Map<string, number>();

export function recordLoad(queue: string, stats: PartitionStats): void {
  loads.set(`${queue}/${stats.partition}`, stats.ready + stats.leased + stats.delayed);
}

/** The less loaded of two distinct random partitions; an unknown load counts as empty. */
export function lessLoadedPartition(queue: string, partitions: number): number {
  if (partitions === 1) return 0;
  const first = Math.floor(Math.random() * partitions);
  const second = (first + 1 + Math.floor(Math.random() * (partitions - 1))) % partitions;
  const load = (partition: number) => loads.get(`${queue}/${partition}`) ?? 0;
  return load(second) < load(first) ? second : first;
}
