/**
 * `npm run chaos [-- --seconds 75 --kills 6 --seed 1]`: the crash test (test/chaos/run.ts) at
 * full length. Prints what happened and the summary line; exits non-zero when anything was
 * lost or reordered, any other check failed, or fewer than 5 kills were survived.
 */
import { parseArgs } from "node:util";
import { describeReport, runChaos } from "../test/chaos/run.ts";

const MIN_KILLS = 5;

const { values: flags } = parseArgs({
  options: {
    seconds: { type: "string", default: "75" },
    kills: { type: "string", default: "6" },
    seed: { type: "string", default: String(Date.now() % 1_000_000) },
  },
});

const report = await runChaos({
  loadSeconds: Number(flags.seconds),
  kills: Number(flags.kills),
  producers: 4,
  consumers: 4,
  keysPerProducer: 4,
  seed: Number(flags.seed),
  drainSeconds: 90,
  log: (line) => console.log(line),
});
for (const line of describeReport(report)) console.log(line);

const passed = report.ok && report.restarts >= MIN_KILLS;
console.log(passed ? "chaos: PASS" : "chaos: FAIL");
process.exit(passed ? 0 : 1);
