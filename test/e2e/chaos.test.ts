/**
 * The crash test, short: Sluice in workerd with persisted state, killed with SIGKILL mid-load
 * and restarted on the same state, then drained and judged (test/chaos/). `npm run chaos` is
 * the long run.
 */
import { describe, expect, it } from "vitest";
import { describeReport, runChaos } from "../chaos/run.ts";

const KILLS = 3;

describe("crash safety", () => {
  it("loses nothing, keeps every key's order and dead-letters exactly the exhausted through SIGKILLs", async () => {
    const report = await runChaos({
      loadSeconds: 30,
      kills: KILLS,
      producers: 3,
      consumers: 3,
      keysPerProducer: 4,
      seed: 20_261_126,
      drainSeconds: 40,
      log: () => {},
    });
    const lines = describeReport(report);
    console.log(lines.join("\n"));
    const { verdict } = report;

    expect({ kills: report.kills, restarts: report.restarts, drained: report.drained }).toEqual({
      kills: KILLS,
      restarts: KILLS,
      drained: true,
    });
    expect({
      lost: verdict.lost,
      reordered: verdict.reordered,
      locksBroken: verdict.locksBroken,
      unexplainedDuplicates: verdict.unexplained,
      storedTwice: verdict.storedTwice,
      attemptsNotGrowing: verdict.attemptsNotGrowing,
      missingDeadLetters: verdict.missingDeadLetters,
      wrongDeadLetters: verdict.wrongDeadLetters,
      statsMismatches: verdict.statsMismatches,
      unexpectedAnswers: report.unexpected,
    }).toEqual({
      lost: 0,
      reordered: 0,
      locksBroken: 0,
      unexplainedDuplicates: 0,
      storedTwice: 0,
      attemptsNotGrowing: 0,
      missingDeadLetters: 0,
      wrongDeadLetters: 0,
      statsMismatches: [],
      unexpectedAnswers: [],
    });
    // The run did what it is meant to: messages died, leases ran out, the crashes cut sends.
    expect(verdict.sent).toBeGreaterThan(300);
    expect(verdict.deadLettered).toBeGreaterThan(0);
    expect(verdict.duplicated).toBeGreaterThan(0);
    expect(report.counters.sendFailures).toBeGreaterThan(0);
  });
});
