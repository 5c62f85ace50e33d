/**
 * Sluice and the baseline Workers in workerd, as users run them: the bundles `wrangler deploy
 * --dry-run` produces, loaded by Miniflare (the one wrangler uses) into one workerd process,
 * each Worker served on its own loopback socket straight from workerd (Miniflare's
 * `unsafeDirectSockets`), so no proxy or entry Worker sits in front. Durable Objects keep
 * their SQLite databases in a temporary directory on disk.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { childrenNamed, wranglerRequire } from "./machine.ts";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const ADMIN_TOKEN = "bench-admin-token";
/** What every Sluice figure was measured on, in short (not `wrangler dev`). */
export const RUNTIME = "bare workerd via Miniflare";
export const MEASURED_ON =
  "workerd through Miniflare, each Worker on a direct loopback socket (no wrangler dev proxy, no entry Worker, no static-asset router)";

export interface Runtime {
  /** Origin of each Worker: sluice, naive, hello, rawSqlite. */
  origins: Record<"sluice" | "naive" | "hello" | "rawSqlite" | "partitionDriver", string>;
  workerdPid: number;
  /** The bundled entry module of the Sluice Worker and of the partition driver (with .map). */
  bundles: Record<"sluice" | "partitionDriver", string>;
  /** Errors the Workers logged, counted, with the first few. */
  errors: { count: number; first: string[] };
  /** workerd's V8 inspector, when the runtime runs with one. */
  inspectorPort?: number;
  /**
   * Stops workerd and starts it again with the same bundles on the same storage (so every
   * Durable Object starts afresh from what it stored), with the inspector open on
   * `inspectorPort` if given; `origins` and `workerdPid` then name the new process.
   */
  restart(options?: { inspectorPort?: number }): Promise<void>;
  stop(): Promise<void>;
}

/** `wrangler deploy --dry-run` into `outdir`; returns the bundled entry module. */
function bundle(outdir: string, config: string): string {
  const wrangler = join(
    dirname(wranglerRequire.resolve("wrangler/package.json")),
    "bin",
    "wrangler.js",
  );
  const args = [wrangler, "deploy", "--dry-run", "--config", config, "--outdir", outdir];
  try {
    // This Node (>= 22.12, which wrangler needs), whatever `node` is on the PATH.
    execFileSync(process.execPath, args, {
      cwd: ROOT,
      env: {
        ...process.env,
        // The project's build step (the dashboard) runs on this Node too.
        PATH: [
          dirname(process.execPath),
          join(ROOT, "node_modules", ".bin"),
          process.env.PATH,
        ].join(":"),
        WRANGLER_SEND_METRICS: "false",
        CLOUDFLARE_CF_FETCH_ENABLED: "false",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (error) {
    const { stdout, stderr } = error as { stdout: Buffer; stderr: Buffer };
    throw new Error(`wrangler could not bundle ${config}:\n${stdout}${stderr}`);
  }
  const entry = readdirSync(outdir).find((file) => file.endsWith(".js"));
  if (!entry) throw new Error(`wrangler wrote no bundle into ${outdir}`);
  return join(outdir, entry);
}

/** A bench Worker bundled the same way, with the project's compatibility settings. */
function bundleBenchWorker(work: string, name: string, entry: string, compatibility: object) {
  const config = join(work, `${name}.wrangler.json`);
  writeFileSync(config, JSON.stringify({ name, main: join(ROOT, entry), ...compatibility }));
  return bundle(join(work, name), config);
}

function moduleOf(path: string) {
  return { modules: [{ type: "ESModule" as const, path }], modulesRoot: dirname(path) };
}

export async function startRuntime(options: {
  naiveEntry: string;
  /** Opens workerd's V8 inspector on this port (for bench/profile.ts). */
  inspectorPort?: number;
}): Promise<Runtime> {
  const work = mkdtempSync(join(tmpdir(), "sluice-bench-workerd-"));
  try {
    return await startIn(work, options);
  } catch (error) {
    rmSync(work, { recursive: true, force: true });
    throw error;
  }
}

async function startIn(
  work: string,
  options: { naiveEntry: string; inspectorPort?: number },
): Promise<Runtime> {
  const { unstable_getMiniflareWorkerOptions } = await import("wrangler");
  const projectConfig = join(ROOT, "wrangler.toml");
  const { workerOptions } = unstable_getMiniflareWorkerOptions(projectConfig);
  // The dashboard's build output may not exist; an empty directory is enough to bundle.
  const assetsDirectory = (workerOptions as { assets?: { directory?: string } }).assets?.directory;
  if (assetsDirectory && !existsSync(assetsDirectory))
    mkdirSync(assetsDirectory, { recursive: true });

  const compatibility = {
    compatibility_date: workerOptions.compatibilityDate,
    compatibility_flags: workerOptions.compatibilityFlags,
  };
  const sluiceBundle = bundle(join(work, "sluice"), projectConfig);
  const naiveBundle = bundleBenchWorker(work, "sluice-naive", options.naiveEntry, compatibility);
  const helloBundle = bundleBenchWorker(work, "hello", "bench/workers/hello.ts", compatibility);
  const rawBundle = bundleBenchWorker(
    work,
    "raw-sqlite",
    "bench/workers/raw-sqlite.ts",
    compatibility,
  );
  const driverBundle = bundleBenchWorker(
    work,
    "partition-driver",
    "bench/workers/partition-driver.ts",
    compatibility,
  );

  const { Miniflare, convertV4MiniflareOptions } = await import(
    wranglerRequire.resolve("miniflare")
  );
  const errors = { count: 0, first: [] as string[] };
  const directSocket = [{ host: "127.0.0.1", port: 0 }];
  // The static-asset router is left out: wrangler.toml runs the Worker first for the API
  // paths, and locally that router is one more isolate on workerd's one thread (on
  // Cloudflare it is part of the platform's routing).
  const { assets: _dashboard, ...apiOptions } = workerOptions as typeof workerOptions & {
    assets?: unknown;
  };
  const sluiceOptions = {
    ...apiOptions,
    // A local run: the short bench token is allowed (core/deployment.ts).
    bindings: {
      ...(workerOptions.bindings as object),
      SLUICE_ADMIN_TOKEN: ADMIN_TOKEN,
      SLUICE_ENV: "development",
    },
    unsafeDirectSockets: directSocket,
  };
  const miniflareOptions = convertV4MiniflareOptions({
    resourcePersistencePath: join(work, "state"),
    inspectorPort: options.inspectorPort,
    handleStructuredLogs: (log: { level: string; message: string }) => {
      if (log.level !== "error") return;
      errors.count++;
      if (errors.first.length < 5) errors.first.push(log.message.slice(0, 500));
    },
    workers: [
      { ...sluiceOptions, name: "sluice", ...moduleOf(sluiceBundle) },
      {
        ...sluiceOptions,
        name: "sluice-naive",
        ...moduleOf(naiveBundle),
        durableObjects: {
          ...(workerOptions.durableObjects as object),
          PARTITION: { className: "NaivePartition", useSQLite: true },
        },
      },
      {
        name: "hello",
        ...moduleOf(helloBundle),
        compatibilityDate: workerOptions.compatibilityDate,
        compatibilityFlags: workerOptions.compatibilityFlags,
        unsafeDirectSockets: directSocket,
      },
      {
        name: "raw-sqlite",
        ...moduleOf(rawBundle),
        compatibilityDate: workerOptions.compatibilityDate,
        compatibilityFlags: workerOptions.compatibilityFlags,
        durableObjects: { RAW_SQLITE: { className: "RawSqlite", useSQLite: true } },
        unsafeDirectSockets: directSocket,
      },
      {
        name: "partition-driver",
        ...moduleOf(driverBundle),
        compatibilityDate: workerOptions.compatibilityDate,
        compatibilityFlags: workerOptions.compatibilityFlags,
        durableObjects: {
          PARTITION: { className: "Partition", useSQLite: true },
          NAIVE_PARTITION: { className: "NaivePartition", useSQLite: true },
          RPC_FLOOR: { className: "RpcFloor", useSQLite: true },
        },
        unsafeDirectSockets: directSocket,
      },
    ],
  });
  const mf = new Miniflare(miniflareOptions);
  await mf.ready;
  const origin = async (name: string) => (await mf.unsafeGetDirectURL(name)).origin as string;
  const locate = async () => ({
    origins: {
      sluice: await origin("sluice"),
      naive: await origin("sluice-naive"),
      hello: await origin("hello"),
      rawSqlite: await origin("raw-sqlite"),
      partitionDriver: await origin("partition-driver"),
    },
    workerdPid: childrenNamed("workerd")[0] ?? -1,
  });
  let stopped: Promise<void> | undefined;
  const runtime: Runtime = {
    ...(await locate()),
    bundles: { sluice: sluiceBundle, partitionDriver: driverBundle },
    errors,
    inspectorPort: options.inspectorPort,
    restart: async ({ inspectorPort } = {}) => {
      // Miniflare restarts workerd on every setOptions; the storage directory stays.
      if (inspectorPort !== undefined) miniflareOptions.inspectorPort = inspectorPort;
      await mf.setOptions(miniflareOptions);
      Object.assign(runtime, await locate(), { inspectorPort: miniflareOptions.inspectorPort });
    },
    stop: () => {
      stopped ??= (mf.dispose() as Promise<void>).finally(() =>
        rmSync(work, { recursive: true, force: true }),
      );
      return stopped;
    },
  };
  return runtime;
}
