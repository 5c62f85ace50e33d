/**
 * `npm run bench [-- --quick] [-- --only sluice|peers] [-- --no-install]`: measures Sluice,
 * its baselines and its peers in one run and writes bench/results/<date>.{md,json,svg} and
 * latest.md. Exits non-zero when a required figure (report.ts REQUIRED_IDS) could not be measured.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Bench } from "./bench.ts";
import { renderChart } from "./chart.ts";
import { describeMachine, loadAverage, measuredCommit } from "./machine.ts";
import { stopAllServers } from "./peers/server.ts";
import { FULL, QUICK } from "./plan.ts";
import { computeRatios, REQUIRED_IDS, type Results, renderMarkdown } from "./report.ts";
import { MEASURED_ON, ROOT, type Runtime, startRuntime } from "./runtime.ts";
import { runCostScenarios } from "./scenarios/cost.ts";
import { runFairnessScenarios } from "./scenarios/fairness.ts";
import { runIsolateScenarios } from "./scenarios/isolate.ts";
import { PEERS, runPeerScenarios, type Skip } from "./scenarios/peers.ts";
import { runSluiceScenarios } from "./scenarios/sluice.ts";
import { runTopicScenarios } from "./scenarios/topics.ts";

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    /** Measure the peers that are installed; do not apt-get the missing ones. */
    "no-install": { type: "boolean", default: false },
  },
});
/** A loopback port nothing listens on now, for workerd's inspector (heap and GC figures). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
const plan = flags.quick ? QUICK : FULL;
const runs = (part: "sluice" | "peers") => flags.only === undefined || flags.only === part;

const bench = new Bench(plan);
const skipped: Skip[] = [];
let runtime: Runtime | undefined;
async function cleanUp() {
  bench.abort();
  await Promise.allSettled([runtime?.stop(), stopAllServers()]);
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, async () => {
    process.stdout.write(`\n${signal}: stopping the servers … `);
    await cleanUp();
    process.stdout.write("done\n");
    process.exit(130);
  });
}

const started = performance.now();
const startLoad = loadAverage();
const machine = describeMachine();
let commit = measuredCommit(ROOT);
console.log(
  `Sluice benchmark (${plan.name}) on ${machine.cores} cores, ${machine.cpuModel}, ${machine.memoryGiB} GiB; ` +
    `load average ${startLoad.join(" ")}`,
);
if (startLoad[0] > 0.5) {
  console.log("  note: the machine is already busy; numbers will be noisy.");
}

try {
  if (runs("sluice")) {
    console.log("Bundling with wrangler and starting workerd …");
    runtime = await startRuntime({ naiveEntry: "bench/workers/naive.ts" });
    // The code may have changed while it was bundled: uncommitted changes seen either side count.
    const afterBundling = measuredCommit(ROOT);
    commit =
      [commit, afterBundling].find((label) => label.includes("uncommitted")) ?? afterBundling;
    console.log(`Sluice and baselines (${MEASURED_ON}):`);
    await runSluiceScenarios(bench, runtime);
    console.log("What a message costs (whole lives, metered by the partition):");
    await runCostScenarios(bench, runtime);
    console.log("Publish fan-out to a topic's subscriptions:");
    await runTopicScenarios(bench, runtime);
    console.log("Noisy neighbour (a hot key among cold ones):");
    await runFairnessScenarios(bench, runtime);
    // The same bundles, restarted with the inspector open: nothing above ran with it.
    console.log("The isolate through workerd's inspector (GC pauses, heap):");
    await runIsolateScenarios(bench, runtime, await freePort());
    await runtime.stop();
  }
  if (runs("peers")) {
    if (!flags["no-install"]) {
      const installed = spawnSync("bash", [join(ROOT, "bench", "install-peers.sh")], {
        stdio: "inherit",
      });
      if (installed.status !== 0)
        console.log("  could not install the peer brokers; measuring what is there");
    }
    console.log("Peers:");
    for (const peer of PEERS) {
      const skip = await runPeerScenarios(bench, peer);
      if (skip) skipped.push(skip);
    }
  }
} finally {
  await cleanUp();
}

const date = new Date().toISOString().slice(0, 10);
const results: Results = {
  date,
  plan,
  machine,
  measuredOn: MEASURED_ON,
  commit,
  loadAverage: { start: startLoad, end: loadAverage() },
  elapsedSeconds: Math.round((performance.now() - started) / 1000),
  workerErrors: runtime?.errors ?? { count: 0, first: [] },
  durability: {
    Sluice:
      "a 2xx means committed to the Durable Object's SQLite (workerd's local storage on this disk)",
    ...Object.fromEntries(PEERS.map((peer) => [peer.system, peer.durability])),
  },
  skipped,
  ratios: computeRatios(bench.measurements),
  measurements: bench.measurements,
};

const directory = join(ROOT, "bench", "results");
mkdirSync(directory, { recursive: true });
const name = plan.name === "quick" ? "quick" : date;
const caption = `Sluice benchmark ${date} (${plan.name}), ${machine.cores} cores ${machine.cpuModel}, load average at start ${startLoad.join(" ")}`;
writeFileSync(join(directory, `${name}.json`), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(directory, `${name}.svg`), renderChart(bench.measurements, caption));
const markdown = renderMarkdown(results, `${name}.svg`);
writeFileSync(join(directory, `${name}.md`), markdown);
if (plan.name === "full") writeFileSync(join(directory, "latest.md"), markdown);

console.log("\nFigures:");
for (const ratio of results.ratios.filter(
  (r) => r.target || REQUIRED_IDS.includes(r.id as never),
)) {
  if (ratio.error) {
    if (runs("sluice")) console.log(`  ${ratio.id}: NOT MEASURED: ${ratio.error}`);
    continue;
  }
  const verdict = ratio.met === undefined ? "" : ratio.met ? "  met" : "  NOT met";
  const target = ratio.target ? ` (target ${ratio.target})` : "";
  console.log(`  ${ratio.id}: ${ratio.display}${target}${verdict}`);
}
for (const skip of skipped) {
  console.log(
    `  ${skip.system}: skipped, ${skip.reason}${skip.install ? `; ${skip.install}` : ""}`,
  );
}
console.log(`\nWrote bench/results/${name}.{md,json,svg} in ${results.elapsedSeconds} s.`);
const unmeasured = runs("sluice")
  ? results.ratios.filter((r) => REQUIRED_IDS.includes(r.id as never) && r.value === null)
  : [];
if (unmeasured.length > 0) {
  console.log(
    `\n${unmeasured.length} required figure(s) could not be measured: ${unmeasured.map((r) => r.id).join(", ")}`,
  );
  process.exit(1);
}
process.exit(0);
