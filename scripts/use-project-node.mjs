// Runs after `npm install`/`npm ci` (on whatever Node the machine has).
// wrangler needs Node >= 22.12; the project brings Node 24 as the `node` dev dependency, and npm
// scripts find it first on PATH. A tool started directly (node_modules/.bin/wrangler) would
// still pick the system Node through its `#!/usr/bin/env node` line, so its link is replaced by
// a small launcher that runs it on the project's Node.
import { existsSync, lstatSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const bin = join(import.meta.dirname, "..", "node_modules", ".bin");
if (!existsSync(join(bin, "node"))) process.exit(0);

for (const tool of ["wrangler", "vitest"]) {
  const link = join(bin, tool);
  if (!existsSync(link) || !lstatSync(link).isSymbolicLink()) continue;
  const target = readlinkSync(link);
  rmSync(link);
  writeFileSync(
    link,
    `#!/bin/sh\nhere=$(dirname "$0")\nexec "$here/node" "$here/${target}" "$@"\n`,
    { mode: 0o755 },
  );
}
