/**
 * The partition's SQLite schema and its migrations. Steps are append-only: step `i` takes the
 * schema to version `i + 1`, and the constructor runs the missing ones (sql.ts `migrate`), so a
 * partition holding data of an older version is upgraded in place, never dropped.
 *
 * v2 (storage v2, docs/architecture.md "Partition storage (v2)"): messages that travel together
 * share a row. A group-commit round's messages are one `segments` row (one per priority in
 * priority order); the row also carries their first leases, their dedup ids and a per-message
 * state. A message leaves its segment for a `held` row of its own only off the common path:
 * sent with a delay, or given back (nack, expired lease) for a retry. Counters live in memory
 * and in one `meta` row; no triggers.
 */
import type { Migration } from "../sql.ts";
import { HISTORY_MIGRATION } from "./history.ts";

export const MIGRATIONS: readonly Migration[] = [
  // v1: the message log, dedup ids, the dead-letter outbox, counters and the newest context.
  (sql) => {
    // `state` is ready | delayed | leased. `visible_at` is when a delayed message becomes
    // ready, or when a lease ends: the one due time of a message. `grp` is the fifo group
    // and `group_head` marks its oldest message. Group locks are not stored apart: a group
    // is locked while any of its messages is leased or its head is delayed, read straight
    // from the messages, so a lock can never disagree with them.
    sql`CREATE TABLE messages (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      id TEXT NOT NULL,
      body TEXT NOT NULL,
      content_type TEXT NOT NULL,
      headers TEXT NOT NULL,
      key TEXT,
      grp TEXT NOT NULL,
      group_head INTEGER NOT NULL,
      priority INTEGER NOT NULL,
      bytes INTEGER NOT NULL,
      sent_at INTEGER NOT NULL,
      state TEXT NOT NULL,
      visible_at INTEGER NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      lease_token TEXT,
      leased_at INTEGER,
      failures TEXT NOT NULL DEFAULT '[]'
    )`;
    // "Next visible message" is one seek in each ordering mode.
    sql`CREATE INDEX messages_ready ON messages (seq) WHERE state = 'ready'`;
    sql`CREATE INDEX messages_ready_heads ON messages (seq) WHERE state = 'ready' AND group_head = 1`;
    sql`CREATE INDEX messages_ready_by_priority ON messages (priority DESC, seq) WHERE state = 'ready'`;
    // The locked groups: those with a leased message.
    sql`CREATE INDEX messages_leased_groups ON messages (grp) WHERE state = 'leased'`;
    // Due times, for the sweep and the alarm.
    sql`CREATE INDEX messages_leases ON messages (visible_at) WHERE state = 'leased'`;
    sql`CREATE INDEX messages_delays ON messages (visible_at) WHERE state = 'delayed'`;
    sql`CREATE INDEX messages_age ON messages (sent_at)`;
    // A group's messages in order, to take a run of them and to find the next head.
    sql`CREATE INDEX messages_group ON messages (grp, seq)`;

    sql`CREATE TABLE dedup (
      dedup_id TEXT PRIMARY KEY,
      message_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      expires_at INTEGER NOT NULL
    )`;
    sql`CREATE INDEX dedup_expiry ON dedup (expires_at)`;

    sql`CREATE TABLE dead_letter_outbox (
      seq INTEGER PRIMARY KEY,
      message TEXT NOT NULL,
      tries INTEGER NOT NULL DEFAULT 0,
      next_attempt_at INTEGER NOT NULL
    )`;
    sql`CREATE INDEX dead_letter_outbox_due ON dead_letter_outbox (next_attempt_at)`;

    // Per-state counts and backlog bytes are kept by triggers, so stats are a few row reads
    // and cannot drift from the messages; the cumulative ones are kept by the operations.
    sql`CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)`;
    sql`INSERT INTO counters (name, value) VALUES ('ready', 0), ('delayed', 0), ('leased', 0),
      ('backlog_bytes', 0), ('sent', 0), ('acked', 0), ('nacked', 0), ('expired', 0),
      ('dead_lettered', 0)`;
    sql`CREATE TRIGGER messages_count_insert AFTER INSERT ON messages BEGIN
      UPDATE counters SET value = value + 1 WHERE name = NEW.state;
      UPDATE counters SET value = value + NEW.bytes WHERE name = 'backlog_bytes';
    END`;
    sql`CREATE TRIGGER messages_count_delete AFTER DELETE ON messages BEGIN
      UPDATE counters SET value = value - 1 WHERE name = OLD.state;
      UPDATE counters SET value = value - OLD.bytes WHERE name = 'backlog_bytes';
    END`;
    sql`CREATE TRIGGER messages_count_state AFTER UPDATE OF state ON messages
      WHEN OLD.state <> NEW.state BEGIN
      UPDATE counters SET value = value - 1 WHERE name = OLD.state;
      UPDATE counters SET value = value + 1 WHERE name = NEW.state;
    END`;
    // When a group's head leaves, the group's next message becomes its head.
    sql`CREATE TRIGGER messages_next_head AFTER DELETE ON messages WHEN OLD.group_head = 1 BEGIN
      UPDATE messages SET group_head = 1
      WHERE seq = (SELECT min(seq) FROM messages WHERE grp = OLD.grp);
    END`;

    sql`CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)`;
  },
  // v2: segments and held rows replace the per-message table; every v1 message becomes a held
  // row in its v1 state (leases and their tokens kept), live v1 dedup ids move to a segment
  // that holds only them (id 0), and the v1 counters move to the `log` meta row.
  (sql) => {
    // `id` orders fresh messages for receives: (9 - priority) * 2^40 + the first seq, so an id
    // scan is seq order, and in priority order (priority desc, seq). `state` is JSON
    // {l: [[token, leasedAt, leaseEnd]...], s: [per message: 0 fresh, 1 gone, k + 2 leased
    // under l[k]]}; `acked` how many of its messages were acked (the `acked` counter is the
    // `log` row's plus these, so an ack writes no counter row); `meta` per message [seq, key,
    // bytes, priority]; `dedup` [[dedupId, seq,
    // id]...]; `messages` the messages as segments.ts encodes them, written once.
    sql`CREATE TABLE segments (
      id INTEGER PRIMARY KEY,
      sent_at INTEGER NOT NULL,
      fresh INTEGER NOT NULL,
      live INTEGER NOT NULL,
      acked INTEGER NOT NULL DEFAULT 0,
      dedup_until INTEGER,
      state TEXT NOT NULL,
      meta TEXT NOT NULL,
      dedup TEXT,
      messages TEXT NOT NULL
    )`;
    // `state` is waiting | leased; `visible_at` is when a waiting message may be received, or
    // when a lease ends. `message` is the message as segments.ts encodes it.
    sql`CREATE TABLE held (
      seq INTEGER PRIMARY KEY,
      grp TEXT NOT NULL,
      priority INTEGER NOT NULL,
      bytes INTEGER NOT NULL,
      sent_at INTEGER NOT NULL,
      state TEXT NOT NULL,
      visible_at INTEGER NOT NULL,
      attempts INTEGER NOT NULL,
      lease_token TEXT,
      leased_at INTEGER,
      failures TEXT NOT NULL,
      message TEXT NOT NULL
    )`;
    sql`CREATE INDEX held_due ON held (visible_at)`;
    sql`CREATE INDEX held_age ON held (sent_at)`;
    sql`INSERT INTO held (seq, grp, priority, bytes, sent_at, state, visible_at, attempts,
        lease_token, leased_at, failures, message)
      SELECT seq, grp, priority, bytes, sent_at,
        CASE state WHEN 'leased' THEN 'leased' ELSE 'waiting' END, visible_at, attempts,
        lease_token, leased_at, failures,
        json_array(id, content_type, json(headers), key) || char(10) || body
      FROM messages`;
    sql`INSERT INTO segments (id, sent_at, fresh, live, dedup_until, state, meta, dedup, messages)
      SELECT 0, 0, 0, 0, max(expires_at), '{"l":[],"s":[]}', '[]',
        json_group_array(json_array(dedup_id, seq, message_id, expires_at)), '[]'
      FROM dedup HAVING count(*) > 0`;
    sql`INSERT INTO meta (name, value)
      SELECT 'log', json_object(
        'nextSeq', next.seq + 1,
        'sentBase', next.seq - (SELECT value FROM counters WHERE name = 'sent'),
        'acked', (SELECT value FROM counters WHERE name = 'acked'),
        'nacked', (SELECT value FROM counters WHERE name = 'nacked'),
        'expired', (SELECT value FROM counters WHERE name = 'expired'),
        'deadLettered', (SELECT value FROM counters WHERE name = 'dead_lettered'))
      FROM (SELECT max(
        coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0),
        coalesce((SELECT max(seq) FROM messages), 0),
        coalesce((SELECT max(seq) FROM dead_letter_outbox), 0)) AS seq) AS next`;
    for (const trigger of [
      "messages_count_insert",
      "messages_count_delete",
      "messages_count_state",
      "messages_next_head",
    ]) {
      sql.text(`DROP TRIGGER ${trigger}`);
    }
    sql`DROP TABLE messages`;
    sql`DROP TABLE dedup`;
    sql`DROP TABLE counters`;
  },
  // v3: the metrics history, a ring of 1 440 minute buckets (history.ts).
  HISTORY_MIGRATION,
];
