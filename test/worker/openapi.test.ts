import { describe, expect, it } from "vitest";
import { z } from "zod";
import { routes } from "../../worker/doors/http/router.ts";
import { ReceiveBodySchema } from "../../worker/schemas.ts";
import { call } from "./api.ts";

// biome-ignore lint/suspicious/noExplicitAny: the document is plain JSON
async function document(): Promise<any> {
  const response = await call("GET", "/v1/openapi.json", { token: null });
  expect(response.status).toBe(200);
  return response.json();
}

function collectRefs(value: unknown, into: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) collectRefs(item, into);
  else if (value !== null && typeof value === "object") {
    for (const [key, inner] of Object.entries(value)) {
      if (key === "$ref" && typeof inner === "string") into.push(inner);
      else collectRefs(inner, into);
    }
  }
  return into;
}

describe("the OpenAPI document", () => {
  it("is OpenAPI 3.1 with the server it was fetched from", async () => {
    const doc = await document();
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.servers).toEqual([{ url: "http://sluice.test" }]);
  });

  it("describes every route the router answers", async () => {
    const doc = await document();
    const routed = routes.map(
      ([method, , , path]) => `${method} ${(path ?? "").replace(/:(\w+)/g, "{$1}")}`,
    );
    const described = Object.entries(doc.paths).flatMap(([path, operations]) =>
      Object.keys(operations as object).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(routed.length).toBe(45);
    expect(described.sort()).toEqual(routed.sort());
  });

  it("generates request schemas from the zod schemas the router validates with", async () => {
    const doc = await document();
    const { $schema: _, ...generated } = z.toJSONSchema(ReceiveBodySchema, { io: "input" });
    expect(doc.components.schemas.ReceiveBody).toEqual(generated);
    expect(
      doc.paths["/v1/queues/{q}/receive"].post.requestBody.content["application/json"].schema,
    ).toEqual({
      $ref: "#/components/schemas/ReceiveBody",
    });
  });

  it("resolves every $ref to a component", async () => {
    const doc = await document();
    const refs = collectRefs(doc);
    expect(refs.length).toBeGreaterThan(20);
    for (const ref of refs) {
      expect(ref).toMatch(/^#\/components\/schemas\//);
      expect(doc.components.schemas[ref.split("/").pop() as string], ref).toBeDefined();
    }
  });

  it("documents the raw-send headers and query parameters", async () => {
    const doc = await document();
    const sendParameters = doc.paths["/v1/queues/{q}/messages"].post.parameters.map(
      (p: { name: string; in: string }) => `${p.in}:${p.name}`,
    );
    expect(sendParameters).toEqual([
      "path:q",
      "header:sluice-key",
      "header:sluice-dedup-id",
      "header:sluice-delay",
      "header:sluice-priority",
    ]);
    const dlqParameters = doc.paths["/v1/queues/{q}/dlq"].get.parameters.map(
      (p: { name: string }) => p.name,
    );
    expect(dlqParameters).toEqual([
      "q",
      "limit",
      "cursor",
      "reason",
      "q",
      "since",
      "until",
      "cluster",
      "key",
    ]);
  });
});
