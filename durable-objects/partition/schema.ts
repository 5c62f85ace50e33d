/**
 * The partition's SQLite schema and its migrations. Steps are append-only: step `i` takes the
 * schema to version `i + 1`, and the constructor runs the missing ones (sql.ts `migrate`), so a
 * partition holding data of an older version is upgraded in place, never dropped.
 */
import type { Migration } from "../sql.ts";

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
];
