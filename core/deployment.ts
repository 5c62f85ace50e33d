/**
 * What a deployed Sluice requires of its secrets, and what local development is spared.
 * Local development is declared, never guessed: `SLUICE_ENV=development` (in `.dev.vars`, which
 * `npm start` copies from `.dev.vars.example`). Everywhere else:
 *
 * - the admin token must be at least `MIN_ADMIN_TOKEN_CHARS` characters and not the example
 *   one, or it is refused (every other credential keeps working);
 * - API-key secrets are sealed for SigV4 under `SLUICE_SEAL_KEY` alone. In local development
 *   the admin token stands in when it is unset, but then rotating the token breaks SigV4, so a
 *   deployment must not rely on that (docs/security.md, rotation).
 */

export const MIN_ADMIN_TOKEN_CHARS = 32;
export const EXAMPLE_ADMIN_TOKEN = "dev-admin-token";

type Settings = Partial<Pick<Env, "SLUICE_ENV" | "SLUICE_ADMIN_TOKEN" | "SLUICE_SEAL_KEY">>;

export function isLocalDevelopment(env: Settings): boolean {
  return env.SLUICE_ENV === "development";
}

/** Why the configured admin token may not be used here, or null when it may. */
export function adminTokenProblem(env: Settings): string | null {
  const token = env.SLUICE_ADMIN_TOKEN ?? "";
  if (isLocalDevelopment(env)) return null;
  const fix = `set a random one of at least ${MIN_ADMIN_TOKEN_CHARS} characters (wrangler secret put SLUICE_ADMIN_TOKEN), or SLUICE_ENV=development for local development`;
  if (token === EXAMPLE_ADMIN_TOKEN) {
    return `SLUICE_ADMIN_TOKEN is the example token '${EXAMPLE_ADMIN_TOKEN}', which is refused outside local development: ${fix}`;
  }
  if (token.length < MIN_ADMIN_TOKEN_CHARS) {
    return `SLUICE_ADMIN_TOKEN has ${token.length} characters and is refused outside local development: ${fix}`;
  }
  return null;
}

/** The secret API-key secrets are sealed under, or null when there is none here. */
export function sealKeyMaterial(env: Settings): string | null {
  if (env.SLUICE_SEAL_KEY) return env.SLUICE_SEAL_KEY;
  return isLocalDevelopment(env) && env.SLUICE_ADMIN_TOKEN ? env.SLUICE_ADMIN_TOKEN : null;
}

/** Why SigV4 cannot be checked here (no seal key), or null when it can. */
export function sealKeyProblem(env: Settings): string | null {
  if (sealKeyMaterial(env) !== null) return null;
  return "the SQS door is off: this Sluice has no SLUICE_SEAL_KEY, the secret API-key secrets are sealed under for AWS Signature V4 (wrangler secret put SLUICE_SEAL_KEY, then create the keys that sign); Bearer tokens keep working";
}
