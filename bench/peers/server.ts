/** A broker process of our own: loopback, a non-default port, a temporary data directory. */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Server {
  readonly name: string;
  readonly pid: number;
  readonly dataDir: string;
  /** Stops the process (TERM, then KILL) and removes its data directory. */
  stop(): Promise<void>;
}

const running = new Set<Server>();
let closing = false;

/** Stops every server still running and starts no more: on the way out, whatever the reason. */
export async function stopAllServers(): Promise<void> {
  closing = true;
  await Promise.all([...running].map((server) => server.stop()));
}

export async function startServer(options: {
  name: string;
  command: string;
  args: (dataDir: string) => string[];
  env?: (dataDir: string) => Record<string, string>;
  port: number;
  /** Runs after the process has exited, e.g. to end a helper daemon it started. */
  afterStop?: () => void;
}): Promise<Server> {
  if (closing) throw new Error("the run is stopping");
  const dataDir = mkdtempSync(join(tmpdir(), `sluice-bench-${options.name}-`));
  const log = openSync(join(dataDir, "server.log"), "a");
  const child = spawn(options.command, options.args(dataDir), {
    cwd: dataDir,
    env: { ...process.env, ...options.env?.(dataDir) },
    stdio: ["ignore", log, log],
    // Its own process group, so stopping it also stops the processes it started.
    detached: true,
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let stopped: Promise<void> | undefined;
  const server: Server = {
    name: options.name,
    pid: child.pid ?? -1,
    dataDir,
    stop: () => {
      stopped ??= (async () => {
        await terminate(child);
        options.afterStop?.();
        running.delete(server);
        rmSync(dataDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
  running.add(server);
  try {
    await waitForPort(options.port, exited, 60_000);
    if (closing) throw new Error("the run is stopping");
  } catch (error) {
    const logTail = readFileSync(join(dataDir, "server.log"), "utf8").split("\n").slice(-15);
    await server.stop();
    throw new Error(
      `${options.name} did not start: ${(error as Error).message}\n${logTail.join("\n")}`,
    );
  }
  return server;
}

/** TERM to the whole process group, KILL to what is left of it after 10 s. */
async function terminate(child: ChildProcess) {
  const group = child.pid;
  if (group === undefined || livingMembers(group) === 0) return;
  process.kill(-group, "SIGTERM");
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (livingMembers(group) === 0) return;
  }
  process.kill(-group, "SIGKILL");
}

/** Processes of the group that are not zombies (which nobody may reap here). */
function livingMembers(group: number): number {
  let living = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(pgrp) === group && state !== "Z") living++;
    } catch {
      // The process ended while we looked.
    }
  }
  return living;
}

async function waitForPort(port: number, exited: Promise<void>, timeoutMs: number) {
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gone) throw new Error("the process exited (see its server.log)");
    if (await canConnect(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nothing listened on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
