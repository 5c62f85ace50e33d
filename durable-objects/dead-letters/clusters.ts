/**
 * Failure clusters of a dead-letter object: dead letters grouped by the fingerprint of their
 * final failure reason (core/failure-fingerprint.ts). The groups are counted as messages arrive
 * and leave, one row per cluster and one per (cluster, key), so listing them reads the clusters,
 * never the messages (docs/architecture.md, "Operators").
 */
import type { Failure, FailureCluster } from "../../core/contract.ts";
import { failureFingerprint } from "../../core/failure-fingerprint.ts";
import type { Migration, Sql } from "../sql.ts";

/** Keys listed per cluster, most messages first. */
const TOP_KEYS = 5;

/** What a cluster needs to know of a dead message arriving or leaving. */
export type ClusterMember = {
  fingerprint: string;
  key: string | null;
  died_at: number;
};

/** The fingerprint a dead message is clustered by: that of its final failure reason. */
export function fingerprintOf(failures: Failure[]): string {
  return failureFingerprint(finalReason(failures));
}

/** The reason of a dead message's last failure, the one that killed it. */
export function finalReason(failures: Failure[]): string {
  return failures[failures.length - 1]?.reason ?? "";
}

/**
 * Schema step: the fingerprint column with its index (a cluster's messages, newest first, are
 * one index range), the cluster tables, and the clusters of the messages already held.
 */
export const CLUSTERS_MIGRATION: Migration = (sql) => {
  sql`ALTER TABLE dead_messages ADD COLUMN fingerprint TEXT NOT NULL DEFAULT ''`;
  sql`CREATE INDEX dead_messages_by_cluster ON dead_messages (fingerprint, died_at, id)`;
  sql`CREATE TABLE failure_clusters (
    fingerprint TEXT PRIMARY KEY,
    example TEXT NOT NULL,
    count INTEGER NOT NULL,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL
  ) WITHOUT ROWID`;
  sql`CREATE TABLE cluster_keys (
    fingerprint TEXT NOT NULL,
    key TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (fingerprint, key)
  ) WITHOUT ROWID`;
  const held = sql<{ id: string; failures: string; key: string | null; died_at: number }>`
    SELECT id, failures, key, died_at FROM dead_messages ORDER BY died_at, id`.toArray();
  const clusters = new FailureClusters(sql);
  for (const row of held) {
    const failures: Failure[] = JSON.parse(row.failures);
    const fingerprint = fingerprintOf(failures);
    sql`UPDATE dead_messages SET fingerprint = ${fingerprint} WHERE id = ${row.id}`;
    clusters.arrived({ fingerprint, key: row.key, died_at: row.died_at }, finalReason(failures));
  }
};

export class FailureClusters {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** Counts a message that was just stored; `reason` is the example of a new cluster. */
  arrived(member: ClusterMember, reason: string): void {
    this.#sql`
      INSERT INTO failure_clusters (fingerprint, example, count, first_at, last_at)
      VALUES (${member.fingerprint}, ${reason}, 1, ${member.died_at}, ${member.died_at})
      ON CONFLICT (fingerprint) DO UPDATE SET
        count = count + 1,
        first_at = min(first_at, excluded.first_at),
        last_at = max(last_at, excluded.last_at)`;
    if (member.key === null) return;
    this.#sql`
      INSERT INTO cluster_keys (fingerprint, key, count) VALUES (${member.fingerprint}, ${member.key}, 1)
      ON CONFLICT (fingerprint, key) DO UPDATE SET count = count + 1`;
  }

  /**
   * Uncounts messages that were just deleted: their clusters' counts drop, and their first and
   * last times are read again from what is left (two index seeks each); an emptied cluster or
   * key goes.
   */
  left(members: ClusterMember[]): void {
    if (members.length === 0) return;
    const byCluster = tally(members.map((m) => [m.fingerprint]));
    const byKey = tally(members.filter((m) => m.key !== null).map((m) => [m.fingerprint, m.key]));
    this.#sql`
      UPDATE failure_clusters SET count = count - gone.value ->> '$[1]'
      FROM json_each(${JSON.stringify(byCluster)}) AS gone
      WHERE failure_clusters.fingerprint = gone.value ->> '$[0]'`;
    const fingerprints = JSON.stringify(byCluster.map(([fingerprint]) => fingerprint));
    this.#sql`
      DELETE FROM failure_clusters
      WHERE fingerprint IN (SELECT value FROM json_each(${fingerprints})) AND count <= 0`;
    this.#sql`
      UPDATE failure_clusters SET
        first_at = (SELECT min(died_at) FROM dead_messages AS m WHERE m.fingerprint = failure_clusters.fingerprint),
        last_at = (SELECT max(died_at) FROM dead_messages AS m WHERE m.fingerprint = failure_clusters.fingerprint)
      WHERE fingerprint IN (SELECT value FROM json_each(${fingerprints}))`;
    if (byKey.length === 0) return;
    this.#sql`
      UPDATE cluster_keys SET count = count - gone.value ->> '$[2]'
      FROM json_each(${JSON.stringify(byKey)}) AS gone
      WHERE cluster_keys.fingerprint = gone.value ->> '$[0]' AND cluster_keys.key = gone.value ->> '$[1]'`;
    this.#sql`
      DELETE FROM cluster_keys
      WHERE fingerprint IN (SELECT value FROM json_each(${fingerprints})) AND count <= 0`;
  }

  clear(): void {
    this.#sql`DELETE FROM failure_clusters`;
    this.#sql`DELETE FROM cluster_keys`;
  }

  /** The largest clusters first (ties: the most recent first), at most `limit`. */
  list(limit: number): FailureCluster[] {
    const clusters = this.#sql<{
      fingerprint: string;
      example: string;
      count: number;
      first_at: number;
      last_at: number;
    }>`
      SELECT * FROM failure_clusters
      ORDER BY count DESC, last_at DESC, fingerprint LIMIT ${limit}`.toArray();
    const keys = this.#sql<{ fingerprint: string; key: string; count: number }>`
      SELECT fingerprint, key, count FROM (
        SELECT *, row_number() OVER (PARTITION BY fingerprint ORDER BY count DESC, key) AS rank
        FROM cluster_keys
        WHERE fingerprint IN (SELECT value FROM json_each(${JSON.stringify(clusters.map((c) => c.fingerprint))}))
      ) WHERE rank <= ${TOP_KEYS}
      ORDER BY count DESC, key`.toArray();
    return clusters.map((cluster) => ({
      fingerprint: cluster.fingerprint,
      example: cluster.example,
      count: cluster.count,
      keys: keys
        .filter((row) => row.fingerprint === cluster.fingerprint)
        .map(({ key, count }) => ({ key, count })),
      firstAt: cluster.first_at,
      lastAt: cluster.last_at,
    }));
  }
}

/** `[...group, n]` per distinct group, n its number of occurrences. */
function tally(groups: (string | null)[][]): (string | number | null)[][] {
  const counts = new Map<string, number>();
  for (const group of groups) {
    const id = JSON.stringify(group);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return [...counts].map(([id, n]) => [...JSON.parse(id), n]);
}
