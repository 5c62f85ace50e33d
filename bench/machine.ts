/** What the numbers were measured on, and how busy it was. */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, loadavg, release, totalmem } from "node:os";

export interface Machine {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  wrangler: string;
  miniflare: string;
  workerd: string;
  peers: Record<string, string>;
}

const require = createRequire(import.meta.url);

function packageVersion(specifier: string, from = require): string {
  try {
    return (from(specifier) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** The first line of a command's answer, or "not installed". */
function commandVersion(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
      .split("\n")[0]
      .trim();
  } catch {
    return "not installed";
  }
}

/** Miniflare as wrangler has it: the one `wrangler dev` would run. */
export const wranglerRequire = createRequire(require.resolve("wrangler/package.json"));

export function describeMachine(): Machine {
  const miniflareRequire = createRequire(wranglerRequire.resolve("miniflare"));
  return {
    cores: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    wrangler: packageVersion("wrangler/package.json"),
    miniflare: packageVersion("miniflare/package.json", wranglerRequire),
    workerd: packageVersion("workerd/package.json", miniflareRequire),
    peers: {
      rabbitmq: commandVersion("dpkg-query", ["-W", "rabbitmq-server"]),
      redis: commandVersion("redis-server", ["--version"]),
      nats: commandVersion("nats-server", ["--version"]),
    },
  };
}

/** The commit measured, marked when the code under test had uncommitted changes. */
export function measuredCommit(root: string): string {
  try {
    const git = (...args: string[]) =>
      execFileSync("git", args, {
        cwd: root,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      }).trim();
    const dirty = git("status", "--porcelain", "--", "worker", "durable-objects", "wrangler.toml");
    return `${git("rev-parse", "--short", "HEAD")}${dirty ? " with uncommitted changes" : ""}`;
  } catch {
    return "unknown";
  }
}

export const loadAverage = () => loadavg().map((load) => Math.round(load * 100) / 100);

const CLOCK_TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) used so far by `root` and every process below it. */
export function treeCpuSeconds(root: number): number {
  const parents = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // After the command: state(0) ppid(1) ... utime(11) stime(12).
      parents.set(Number(entry), Number(fields[1]));
      ticks.set(Number(entry), Number(fields[11]) + Number(fields[12]));
    } catch {
      // The process ended while we looked.
    }
  }
  const inTree = (pid: number): boolean => {
    for (let at: number | undefined = pid; at !== undefined && at > 1; at = parents.get(at)) {
      if (at === root) return true;
    }
    return false;
  };
  let total = 0;
  for (const [pid, used] of ticks) if (inTree(pid)) total += used;
  return total / CLOCK_TICKS_PER_SECOND;
}

/** Child processes of this one whose command is `name` (e.g. the workerd Miniflare started). */
export function childrenNamed(name: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const command = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid && command === name) found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}
