/**
 * API keys under attack: unknown tokens cost the one Catalog object as little as possible
 * and never push real keys out of the router's cache; a revoked key stops working on every
 * door at once in the isolate that revoked it; key queue patterns match in linear time.
 */

import { env } from "cloudflare:workers";
import { ListQueuesCommand } from "@aws-sdk/client-sqs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { authenticate, KEY_CACHE_ENTRIES, matchesPattern } from "../../worker/auth.ts";
import { createCredentials, sqsClient } from "../sqs/support.ts";
import { callWithEnv, createKey, expectProblem, ok } from "../worker/api.ts";

/**
 * `env.CATALOG` with every call to the catalog object counted; `answer` replaces the object
 * with one that finds no key at all (a flood needs no real storage behind it).
 */
function countingCatalog(answer?: "nothing") {
  const counted = { calls: 0 };
  const namespace = {
    getByName(name: string) {
      const stub = env.CATALOG.getByName(name);
      return new Proxy(stub, {
        get(target, method) {
          // biome-ignore lint/suspicious/noExplicitAny: any RPC method of the stub
          const real = (target as any)[method];
          if (typeof real !== "function" || method === "then") return real;
          return (...args: unknown[]) => {
            counted.calls++;
            // biome-ignore lint/suspicious/noExplicitAny: any RPC method of the stub
            return answer === "nothing" ? Promise.resolve(null) : (target as any)[method](...args);
          };
        },
      });
    },
  };
  return { CATALOG: namespace as unknown as Env["CATALOG"], counted };
}

/** A token shaped like a key's secret (`sk_` and 43 base64url characters) nobody issued. */
function unissuedSecret(index: number): string {
  return `sk_${index.toString(36).padStart(43, "A")}`;
}

describe("finding 6: unauthenticated requests and the Catalog", () => {
  it("finding 6: a token that cannot be a key is refused with no Catalog call", async () => {
    const { CATALOG, counted } = countingCatalog();
    for (const token of ["guess", "dev-admin-token", `sk_${"x".repeat(10)}`, "a".repeat(200)]) {
      const response = await callWithEnv("GET", "/v1/queues", { CATALOG }, { token });
      await expectProblem(response, 401, "unauthorized");
    }
    expect(counted.calls).toBe(0);
  });

  it("finding 6: a SigV4 access key id that cannot be a key is refused with no Catalog call", async () => {
    const { CATALOG, counted } = countingCatalog();
    const client = sqsClient(
      { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "anything" },
      { env: { CATALOG }, maxAttempts: 1 },
    );
    const refusal = await client.send(new ListQueuesCommand({})).catch((error) => error);
    expect(refusal.name).toBe("InvalidClientTokenId");
    expect(counted.calls).toBe(0);
  });

  it("finding 6: an unknown SigV4 key id costs one Catalog call, then is remembered as a miss", async () => {
    const { CATALOG, counted } = countingCatalog();
    const client = sqsClient(
      { accessKeyId: "key_00000000000000ab", secretAccessKey: "anything" },
      { env: { CATALOG }, maxAttempts: 1 },
    );
    for (let i = 0; i < 3; i++) {
      const refusal = await client.send(new ListQueuesCommand({})).catch((error) => error);
      expect(refusal.name).toBe("InvalidClientTokenId");
    }
    expect(counted.calls).toBe(1);
  });

  it("finding 6: an unknown key is looked up once, then remembered as a miss", async () => {
    const { CATALOG, counted } = countingCatalog();
    const token = unissuedSecret(-1);
    for (let i = 0; i < 5; i++) {
      const response = await callWithEnv("GET", "/v1/queues", { CATALOG }, { token });
      await expectProblem(response, 401, "unauthorized");
    }
    expect(counted.calls).toBe(1);
  });

  it("finding 6: a flood of unknown keys never evicts a real key from the cache", async () => {
    const secret = await createKey(["consume"]);
    const real = countingCatalog();
    expect(await authenticate({ ...env, CATALOG: real.CATALOG }, secret)).not.toBeNull();
    expect(real.counted.calls).toBe(1);

    const flood = countingCatalog("nothing");
    for (let i = 0; i <= KEY_CACHE_ENTRIES; i++) {
      expect(await authenticate({ ...env, CATALOG: flood.CATALOG }, unissuedSecret(i))).toBeNull();
    }
    expect(flood.counted.calls).toBe(KEY_CACHE_ENTRIES + 1);

    expect(await authenticate({ ...env, CATALOG: real.CATALOG }, secret)).not.toBeNull();
    expect(real.counted.calls).toBe(1);
  });
});

describe("finding 8: revocation reaches SigV4", () => {
  it("finding 8: revoking a key stops its SigV4 signatures at once in the isolate that revoked it", async () => {
    const credentials = await createCredentials(["admin"]);
    const client = sqsClient(credentials, { maxAttempts: 1 });
    await client.send(new ListQueuesCommand({}));
    await ok("DELETE", `/v1/keys/${credentials.accessKeyId}`);
    const refusal = await client.send(new ListQueuesCommand({})).catch((error) => error);
    expect(refusal.name).toBe("InvalidClientTokenId");
  });
});

describe("finding 9: key queue patterns", () => {
  /** `*` as any run of characters, the rule as regular expressions state it. */
  function reference(pattern: string, name: string): boolean {
    const escaped = pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\-]/g, "\\$&"));
    return new RegExp(`^${escaped.join(".*")}$`).test(name);
  }

  it("finding 9: a pattern of many stars is matched without building a regular expression", () => {
    const built: string[] = [];
    const NativeRegExp = globalThis.RegExp;
    globalThis.RegExp = new Proxy(NativeRegExp, {
      construct(target, args) {
        built.push(String(args[0]));
        return Reflect.construct(target, args);
      },
    });
    try {
      expect(matchesPattern("*a*a*a*a*a*a*b", "a".repeat(80))).toBe(false);
      expect(matchesPattern("*a*a*a*a*a*a*b", `${"a".repeat(79)}b`)).toBe(true);
    } finally {
      globalThis.RegExp = NativeRegExp;
    }
    expect(built).toEqual([]);
  });

  it("finding 9: the glob matcher answers as the regular-expression rule does", () => {
    const text = (max: number) =>
      fc.string({ unit: fc.constantFrom("a", "b", ".", "-"), maxLength: max });
    const pattern = fc.string({ unit: fc.constantFrom("a", "b", ".", "*"), maxLength: 8 });
    fc.assert(
      fc.property(pattern, text(12), (p, name) => {
        expect(matchesPattern(p, name), `${p} ~ ${name}`).toBe(reference(p, name));
      }),
      { numRuns: 3_000 },
    );
  });
});
