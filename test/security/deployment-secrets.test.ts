/**
 * What a deployed Sluice requires of its secrets (core/deployment.ts): a real admin token,
 * and a seal key of its own for the SQS door. Local development (`SLUICE_ENV=development`)
 * is spared both. The test Worker runs deployed-like; each case changes the environment of
 * its own requests only.
 */
import { ListQueuesCommand } from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { MIN_ADMIN_TOKEN_CHARS } from "../../core/deployment.ts";
import { createCredentials, sqsClient } from "../sqs/support.ts";
import { callWithEnv, expectProblem } from "../worker/api.ts";

const DEPLOYED = { SLUICE_ENV: undefined };
const LOCAL = { SLUICE_ENV: "development" };

async function listAs(token: string, environment: Partial<Env>): Promise<Response> {
  return callWithEnv("GET", "/v1/queues", { ...environment, SLUICE_ADMIN_TOKEN: token }, { token });
}

describe("finding 11: the admin token", () => {
  it("finding 11: a deployed Worker refuses an admin token shorter than 32 characters, saying why", async () => {
    const token = "a-31-character-admin-token-xxxx";
    expect(token).toHaveLength(MIN_ADMIN_TOKEN_CHARS - 1);
    const problem = await expectProblem(await listAs(token, DEPLOYED), 401, "admin_token_refused");
    expect(problem.detail).toContain(`at least ${MIN_ADMIN_TOKEN_CHARS} characters`);
    expect(problem.detail).toContain("wrangler secret put SLUICE_ADMIN_TOKEN");
  });

  it("finding 11: a deployed Worker refuses the example token dev-admin-token", async () => {
    const problem = await expectProblem(
      await listAs("dev-admin-token", DEPLOYED),
      401,
      "admin_token_refused",
    );
    expect(problem.detail).toContain("example token");
  });

  it("finding 11: a deployed Worker takes an admin token of 32 characters", async () => {
    const response = await listAs("x".repeat(MIN_ADMIN_TOKEN_CHARS), DEPLOYED);
    expect(response.status).toBe(200);
  });

  it("finding 11: local development (SLUICE_ENV=development) takes the example token", async () => {
    const response = await listAs("dev-admin-token", LOCAL);
    expect(response.status).toBe(200);
  });
});

describe("finding 11: the seal key", () => {
  it("finding 11: without SLUICE_SEAL_KEY a deployed Worker refuses SigV4 with AccessDenied, not a 500", async () => {
    const client = sqsClient(await createCredentials(), {
      env: { ...DEPLOYED, SLUICE_SEAL_KEY: undefined },
      maxAttempts: 1,
    });
    const refusal = await client.send(new ListQueuesCommand({})).catch((error) => error);
    expect(refusal.name).toBe("AccessDenied");
    expect(refusal.$metadata.httpStatusCode).toBe(403);
    expect(refusal.message).toContain("SLUICE_SEAL_KEY");
  });

  it("finding 11: without SLUICE_SEAL_KEY and SLUICE_ADMIN_TOKEN a SigV4 call is refused, not a 500", async () => {
    const client = sqsClient(await createCredentials(), {
      env: { ...LOCAL, SLUICE_SEAL_KEY: undefined, SLUICE_ADMIN_TOKEN: undefined },
      maxAttempts: 1,
    });
    const refusal = await client.send(new ListQueuesCommand({})).catch((error) => error);
    expect(refusal.name).toBe("AccessDenied");
    expect(refusal.message).toContain("SLUICE_SEAL_KEY");
  });

  it("finding 11: with SLUICE_SEAL_KEY the admin token can change without breaking SigV4", async () => {
    const client = sqsClient(await createCredentials(), {
      env: { ...DEPLOYED, SLUICE_ADMIN_TOKEN: "a-rotated-admin-token-0123456789abcdef" },
      maxAttempts: 1,
    });
    const answer = await client.send(new ListQueuesCommand({}));
    expect(answer.$metadata.httpStatusCode).toBe(200);
  });
});
