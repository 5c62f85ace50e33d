/**
 * Group commit's rounds (durable-objects/partition/group-commit.ts), with the storage sync
 * held open by the test: a lone call is written at once; calls that come while a sync is
 * pending share the next round; after a round of several calls, the next one gathers as many
 * (or `enough`) before it is written, and waits no longer than its `ms` when they do not come.
 */
import { describe, expect, it } from "vitest";
import {
  type CommitPolicy,
  GroupCommit,
  takeAll,
} from "../../durable-objects/partition/group-commit.ts";
import { GROUP_COMMIT, type Work } from "../../durable-objects/partition/rounds.ts";

/** A group commit over strings whose syncs the test ends one by one. */
function harness(policy: CommitPolicy<string>) {
  const rounds: string[][] = [];
  const syncs: (() => void)[] = [];
  const commit = new GroupCommit<string, string>(
    policy,
    (round) => {
      rounds.push(round);
      return round.map((item) => ({ outcome: item }));
    },
    () => new Promise<void>((resolve) => syncs.push(resolve)),
  );
  /** Ends the oldest pending sync and lets what follows it run. */
  const endSync = async () => {
    (syncs.shift() as () => void)();
    await new Promise((resolve) => setTimeout(resolve, 0));
  };
  return { commit, rounds, endSync };
}

/** A "big" call is enough on its own; the others weigh one each. */
const gathering = (ms: number) => ({
  take: takeAll,
  gathering: { ms, weight: (item: string) => (item === "big" ? 100 : 1), enough: 100 },
});

describe("group commit", () => {
  it("writes a lone call at once, and the calls that come during its sync in one round", async () => {
    const { commit, rounds, endSync } = harness(gathering(60_000));
    const answers = [commit.submit("a")];
    expect(rounds).toEqual([["a"]]);
    answers.push(commit.submit("b"), commit.submit("c"));
    await endSync();
    expect(rounds).toEqual([["a"], ["b", "c"]]);
    await endSync();
    expect(await Promise.all(answers)).toEqual(["a", "b", "c"]);
  });

  it("after a round of several, gathers as many calls before writing the next", async () => {
    const { commit, rounds, endSync } = harness(gathering(60_000));
    const answers = [commit.submit("a"), commit.submit("b"), commit.submit("c")];
    await endSync(); // round [a]; b and c came during its sync
    await endSync(); // round [b, c]: the next one waits for two
    answers.push(commit.submit("d"));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(rounds).toEqual([["a"], ["b", "c"]]);
    answers.push(commit.submit("e"));
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(rounds).toEqual([["a"], ["b", "c"], ["d", "e"]]);
    await endSync();
    expect(await Promise.all(answers)).toEqual(["a", "b", "c", "d", "e"]);
  });

  it("stops gathering once the waiting calls are enough on their own", async () => {
    const { commit, rounds, endSync } = harness(gathering(60_000));
    const answers = [
      commit.submit("a"),
      commit.submit("b"),
      commit.submit("c"),
      commit.submit("d"),
    ];
    await endSync();
    await endSync(); // round [b, c, d]
    answers.push(commit.submit("big"));
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(rounds).toEqual([["a"], ["b", "c", "d"], ["big"]]);
    await endSync();
    await Promise.all(answers);
  });

  it("writes what came once `ms` has passed, and a lone caller after that never waits", async () => {
    const { commit, rounds, endSync } = harness(gathering(10));
    const answers = [commit.submit("a"), commit.submit("b"), commit.submit("c")];
    await endSync();
    await endSync(); // round [b, c]
    answers.push(commit.submit("d"));
    // No other call comes: only the timer can write it (polled, as a loaded machine runs late).
    for (let waited = 0; rounds.length < 3 && waited < 5_000; waited += 5) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(rounds).toEqual([["a"], ["b", "c"], ["d"]]);
    await endSync();
    answers.push(commit.submit("e"));
    expect(rounds.at(-1)).toEqual(["e"]);
    await endSync();
    expect(await Promise.all(answers)).toEqual(["a", "b", "c", "d", "e"]);
  });

  it("never waits without a gathering policy", async () => {
    const { commit, rounds, endSync } = harness({ take: takeAll });
    const answers = [commit.submit("a"), commit.submit("b"), commit.submit("c")];
    await endSync();
    await endSync();
    answers.push(commit.submit("d"));
    expect(rounds).toEqual([["a"], ["b", "c"], ["d"]]);
    await endSync();
    await Promise.all(answers);
  });

  it("weighs a partition call by the messages it sends, acks or asks for, a receive's acks too", () => {
    const { weight, enough } = GROUP_COMMIT.gathering ?? { weight: () => 0, enough: 0 };
    const context = { config: {}, configVersion: 1 } as Work["context"];
    const leases = (n: number) =>
      Array.from({ length: n }, (_, seq) => ({ seq: seq + 1, token: "0".repeat(32) }));
    const message = { body: "1", contentType: "application/json" as const, headers: {} };
    expect(weight({ kind: "send", context, messages: [message, message] })).toBe(2);
    expect(weight({ kind: "ack", context, leases: leases(3) })).toBe(3);
    expect(weight({ kind: "receive", context, max: 10 })).toBe(10);
    const carrying: Work = { kind: "receive", context, max: 10, ack: leases(enough - 10) };
    expect(weight(carrying)).toBe(enough);
  });
});
