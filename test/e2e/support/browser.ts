/**
 * The browser the end-to-end tests drive, found without apt and without a download:
 *
 *   1. `SLUICE_CHROMIUM`, when set: that executable and nothing else (a wrong path is an
 *      error that names it, never a silent fall-through to another browser);
 *   2. the system's `chromium` or `google-chrome`, when one is on the PATH;
 *   3. the Chromium inside the `@sparticuz/chromium` dev dependency, unpacked into the
 *      temporary directory on first use (so `npm install && npm test` is enough).
 */
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import { type Browser, chromium } from "playwright-core";

export type BrowserSource = "SLUICE_CHROMIUM" | "system" | "npm";

export interface BrowserChoice {
  source: BrowserSource;
  executablePath: string;
  args: string[];
}

const SYSTEM_BROWSERS = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];

/** Flags for a system Chromium: headless, no sandbox (tests run as root), nothing phoned home. */
const SYSTEM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** How long a browser may take to start before the tests give up and say which one hung. */
export const LAUNCH_TIMEOUT_MS = 60_000;

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first of `names` that is an executable file in one of PATH's directories. */
export function onPath(names: readonly string[], path: string | undefined): string | undefined {
  const directories = (path ?? "").split(delimiter).filter(Boolean);
  for (const name of names) {
    for (const directory of directories) {
      const candidate = join(directory, name);
      if (isExecutableFile(candidate)) return candidate;
    }
  }
  return undefined;
}

export async function findBrowser(
  env: Record<string, string | undefined> = process.env,
): Promise<BrowserChoice> {
  const chosen = env.SLUICE_CHROMIUM;
  if (chosen !== undefined && chosen !== "") {
    if (!isExecutableFile(chosen)) {
      throw new Error(
        `SLUICE_CHROMIUM is ${JSON.stringify(chosen)}, which is not an executable file. ` +
          "Point it at a Chromium binary, or unset it to use the system's Chromium or the one npm installed.",
      );
    }
    return { source: "SLUICE_CHROMIUM", executablePath: chosen, args: SYSTEM_FLAGS };
  }
  const system = onPath(SYSTEM_BROWSERS, env.PATH);
  if (system) return { source: "system", executablePath: system, args: SYSTEM_FLAGS };

  const { default: packaged } = await import("@sparticuz/chromium");
  return { source: "npm", executablePath: await packaged.executablePath(), args: packaged.args };
}

/**
 * Starts the chosen browser headless. The packaged Chromium runs single-process and so holds
 * one context at a time: open one context per browser and close the browser with it.
 */
export async function launchBrowser(
  choice: BrowserChoice,
  timeoutMs = LAUNCH_TIMEOUT_MS,
): Promise<Browser> {
  try {
    return await chromium.launch({
      executablePath: choice.executablePath,
      args: choice.args,
      headless: true,
      timeout: timeoutMs,
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new Error(
      `The browser from ${choice.source} (${choice.executablePath}) did not start within ${timeoutMs} ms: ${reason}`,
    );
  }
}
