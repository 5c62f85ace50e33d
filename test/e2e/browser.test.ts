/**
 * Where the end-to-end tests get their browser: SLUICE_CHROMIUM, else the system's Chromium,
 * else the one the npm dev dependency carries. A wrong choice fails fast and says what to do.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { findBrowser, launchBrowser } from "./support/browser.ts";

const scratch = mkdtempSync(join(tmpdir(), "sluice-browser-lookup-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** An executable script at `dir/name` that does what `body` says. */
function script(dir: string, name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

describe("browser lookup order", () => {
  it("takes SLUICE_CHROMIUM first, even when a system Chromium is on the PATH", async () => {
    const bin = mkdtempSync(join(scratch, "bin-"));
    script(bin, "chromium", "exit 0");
    const chosen = script(scratch, "my-chromium", "exit 0");
    const choice = await findBrowser({ SLUICE_CHROMIUM: chosen, PATH: bin });
    expect(choice).toMatchObject({ source: "SLUICE_CHROMIUM", executablePath: chosen });
  });

  it("takes the system's chromium or google-chrome from the PATH next", async () => {
    const bin = mkdtempSync(join(scratch, "bin-"));
    const chrome = script(bin, "google-chrome", "exit 0");
    expect(await findBrowser({ PATH: `/nonexistent:${bin}` })).toMatchObject({
      source: "system",
      executablePath: chrome,
    });
    const chromium = script(bin, "chromium", "exit 0");
    expect(await findBrowser({ PATH: bin })).toMatchObject({
      source: "system",
      executablePath: chromium,
    });
  });

  it("passes over a PATH entry that is not executable", async () => {
    const bin = mkdtempSync(join(scratch, "bin-"));
    writeFileSync(join(bin, "chromium"), "not a program");
    const choice = await findBrowser({ PATH: bin });
    expect(choice.source).toBe("npm");
  });

  it("falls back to the Chromium of the npm dev dependency, with its own flags", async () => {
    const choice = await findBrowser({ PATH: "" });
    expect(choice.source).toBe("npm");
    expect(choice.executablePath).toMatch(/chromium/);
    expect(choice.args).toContain("--no-sandbox");
  });

  it("refuses a SLUICE_CHROMIUM that is not an executable file, naming it", async () => {
    await expect(
      findBrowser({ SLUICE_CHROMIUM: join(scratch, "missing"), PATH: "" }),
    ).rejects.toThrow(/SLUICE_CHROMIUM is ".*missing", which is not an executable file/);
    await expect(findBrowser({ SLUICE_CHROMIUM: scratch, PATH: "" })).rejects.toThrow(
      /not an executable file/,
    );
  });

  it("gives up on a browser that never starts, with an error instead of a hang", async () => {
    const hangs = script(scratch, "hangs", "sleep 30");
    const choice = await findBrowser({ SLUICE_CHROMIUM: hangs, PATH: "" });
    await expect(launchBrowser(choice, 1_500)).rejects.toThrow(
      /The browser from SLUICE_CHROMIUM \(.*hangs\) did not start within 1500 ms/,
    );
  });

  it("reports a browser that exits at once", async () => {
    const exits = script(scratch, "exits", "echo 'not chromium' >&2; exit 3");
    const choice = await findBrowser({ SLUICE_CHROMIUM: exits, PATH: "" });
    await expect(launchBrowser(choice, 10_000)).rejects.toThrow(
      /The browser from SLUICE_CHROMIUM \(.*exits\) did not start/,
    );
  });

  it("starts whichever browser this machine finds and renders a page", async () => {
    const browser = await launchBrowser(await findBrowser());
    try {
      const page = await browser.newPage();
      await page.setContent("<h1>Sluice</h1>");
      expect(await page.textContent("h1")).toBe("Sluice");
    } finally {
      await browser.close();
    }
  });
});
