/** Shared setup for dashboard component tests: a fake API, a signed-in session, sample data. */
import { cleanup, render } from "@testing-library/react";
import type { ReactNode } from "react";
import { afterEach, vi } from "vitest";
import type { DeadMessage, Queue } from "../../client/types.ts";
import type { SluiceApi } from "../../dashboard/src/api.ts";
import { QueueMonitor } from "../../dashboard/src/monitor.ts";
import { SessionContext } from "../../dashboard/src/session.ts";

afterEach(() => {
  cleanup();
  window.location.hash = "";
});

/** 2026-11-01 10:00:00 local time. */
export const T0 = new Date(2026, 10, 1, 10, 0, 0).getTime();

export function deadLetter(overrides: Partial<DeadMessage> = {}): DeadMessage {
  return {
    id: "3f2a9c1e-0000-4000-8000-000000000001",
    queue: "orders",
    partition: 0,
    seq: 1,
    body: { order: 1, sku: "apple" },
    contentType: "application/json",
    headers: {},
    key: null,
    priority: 0,
    sentAt: T0,
    attempts: 2,
    failures: [
      { at: T0 + 1_500, attempt: 1, reason: "inventory timeout", by: "nack" },
      { at: T0 + 31_500, attempt: 2, reason: "lease ran out", by: "expiry" },
    ],
    diedAt: T0 + 31_500,
    edits: [],
    ...overrides,
  };
}

export function queueSummary(name: string, overrides: Partial<Queue["stats"]> = {}): Queue {
  return {
    name,
    config: {
      partitions: 1,
      ordering: "fifo",
      visibilityTimeout: 30,
      maxAttempts: 2,
      retry: { initialDelay: 1, maxDelay: 300, multiplier: 2, jitter: true },
      retention: 345_600,
      maxMessageBytes: 262_144,
      dedupWindow: 300,
      backlog: { soft: 100_000, hard: 1_000_000 },
      fairness: "oldest",
    },
    stats: {
      ready: 0,
      leased: 0,
      delayed: 0,
      deadLettered: 0,
      oldestAgeMs: 0,
      sent: 0,
      acked: 0,
      backlogBytes: 0,
      paused: false,
      pausedUntil: null,
      pausedKeys: 0,
      heldKeys: [],
      usage: { requests: 0, statements: 0, rowsRead: 0, rowsWritten: 0 },
      ...overrides,
    },
  };
}

/** Every method a mock that fails loudly unless the test says what it answers. */
export function fakeApi(overrides: Partial<SluiceApi> = {}): SluiceApi {
  const unexpected = (name: string) =>
    vi.fn(async () => {
      throw new Error(`unexpected call to ${name}`);
    });
  return {
    listQueues: unexpected("listQueues"),
    putQueue: unexpected("putQueue"),
    purge: unexpected("purge"),
    getHistory: unexpected("getHistory"),
    peek: unexpected("peek"),
    send: unexpected("send"),
    listDeadLetters: unexpected("listDeadLetters"),
    getDeadLetter: unexpected("getDeadLetter"),
    redriveDeadLetters: unexpected("redriveDeadLetters"),
    deleteDeadLetter: unexpected("deleteDeadLetter"),
    editDeadLetter: unexpected("editDeadLetter"),
    purgeDeadLetters: unexpected("purgeDeadLetters"),
    listFailureClusters: unexpected("listFailureClusters"),
    createRedriveJob: unexpected("createRedriveJob"),
    getRedriveJob: unexpected("getRedriveJob"),
    cancelRedriveJob: unexpected("cancelRedriveJob"),
    pause: unexpected("pause"),
    resume: unexpected("resume"),
    getKey: unexpected("getKey"),
    putKeyLimits: unexpected("putKeyLimits"),
    listKeys: unexpected("listKeys"),
    createKey: unexpected("createKey"),
    deleteKey: unexpected("deleteKey"),
    listTopics: unexpected("listTopics"),
    listSchedules: unexpected("listSchedules"),
    pauseSchedule: unexpected("pauseSchedule"),
    resumeSchedule: unexpected("resumeSchedule"),
    ...overrides,
  };
}

/** Renders inside a signed-in session whose monitor is not polling (tests call refresh). */
export function renderSignedIn(ui: ReactNode, api: SluiceApi) {
  const monitor = new QueueMonitor(api);
  const session = { api, monitor, signOut: vi.fn() };
  return {
    ...render(<SessionContext.Provider value={session}>{ui}</SessionContext.Provider>),
    session,
  };
}
