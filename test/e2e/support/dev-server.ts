/**
 * Starts the real Worker with `wrangler dev` for end-to-end tests: a free port on 127.0.0.1,
 * fresh persisted state in a temporary directory and a known admin token. wrangler builds the
 * dashboard into dashboard/dist first (`[build]` in wrangler.toml).
 *
 *   const server = await startDevServer();
 *   await fetch(`${server.url}/v1/queues`, { headers: { authorization: `Bearer ${server.token}` } });
 *   await server.stop(); // kills wrangler and workerd, removes the state directory
 *
 * Crash tests pass `stateDir` (kept on stop) and `port`, `kill()` the runtime with SIGKILL and
 * start it again on the same state and port.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname, "../../..");
const BIN = join(ROOT, "node_modules/.bin");
const STARTUP_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;

export interface DevServer {
  /** http://127.0.0.1:<port>, no trailing slash. */
  url: string;
  /** The admin token the Worker was started with (SLUICE_ADMIN_TOKEN). */
  token: string;
  /** The directory the Worker persists its state in (`--persist-to`). */
  stateDir: string;
  /** Everything wrangler printed so far, for failure messages. */
  output(): string;
  stop(): Promise<void>;
  /**
   * Kills wrangler and workerd with SIGKILL at once, as a crash would: nothing is flushed or
   * shut down. The state directory is kept, whoever made it.
   */
  kill(): Promise<void>;
}

export interface DevServerOptions {
  /** Defaults to a random token. */
  token?: string;
  /** More `--var NAME:value` pairs for the Worker. */
  vars?: Record<string, string>;
  /** Persist state here, e.g. a killed server's; the caller owns it and stop() keeps it. */
  stateDir?: string;
  /** Listen on this port instead of a free one, e.g. the port a killed server used. */
  port?: number;
}

export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const token = options.token ?? `e2e-${randomBytes(12).toString("hex")}`;
  const port = options.port ?? (await freePort());
  const ownsState = options.stateDir === undefined;
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), "sluice-e2e-"));
  // wrangler dev is local development: the admin token stands in for a seal key (SigV4).
  const vars = { SLUICE_ADMIN_TOKEN: token, SLUICE_ENV: "development", ...options.vars };
  const args = [
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    String(await freePort()),
    "--persist-to",
    stateDir,
    "--show-interactive-dev-session=false",
    "--log-level",
    "warn",
    ...Object.entries(vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
  ];
  // A process group of its own, so stop() can end wrangler and the workerd it spawns together.
  const child = spawn(join(BIN, "wrangler"), args, {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      PATH: `${BIN}:${process.env.PATH}`,
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      WRANGLER_SEND_METRICS: "false",
      NO_COLOR: "1",
    },
  });
  let output = "";
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
  const killOnExit = () => killGroup(child, "SIGKILL");
  process.once("exit", killOnExit);

  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.off("exit", killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      killGroup(child, "SIGTERM");
      const timer = setTimeout(() => killGroup(child, "SIGKILL"), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
    // workerd may outlive wrangler for a moment; the group kill reaches it either way.
    killGroup(child, "SIGKILL");
    if (ownsState) rmSync(stateDir, { recursive: true, force: true });
  };
  const kill = async () => {
    if (stopped) return;
    stopped = true;
    process.off("exit", killOnExit);
    killGroup(child, "SIGKILL");
    await groupGone(child);
  };

  try {
    await waitForHealth(url, exited, () => output);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, token, stateDir, output: () => output, stop, kill };
}

async function waitForHealth(url: string, exited: Promise<number | null>, output: () => string) {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let exitCode: number | null | undefined;
  void exited.then((code) => {
    exitCode = code;
  });
  while (Date.now() < deadline) {
    if (exitCode !== undefined) {
      throw new Error(
        `wrangler dev exited (code ${exitCode}) before answering /health:\n${output()}`,
      );
    }
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `wrangler dev did not answer ${url}/health within ${STARTUP_TIMEOUT_MS} ms:\n${output()}`,
  );
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

/** Waits until every process of the child's group is gone, so its port and files are free. */
async function groupGone(child: ChildProcess): Promise<void> {
  const deadline = Date.now() + STOP_GRACE_MS;
  while (child.pid !== undefined && Date.now() < deadline) {
    try {
      process.kill(-child.pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}
