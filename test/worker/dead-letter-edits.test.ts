import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DeadMessageSchema } from "../../worker/schemas.ts";
import { client } from "../client/support.ts";
import { bindingFor } from "../rpc/binding.ts";
import {
  call,
  createKey,
  createQueue,
  expectProblem,
  ok,
  queueName,
  receive,
  send,
  settleDeadLetters,
} from "./api.ts";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** A queue holding one dead letter `{order: 1}` with the header `tenant: a`; its id. */
async function oneDeadLetter() {
  const name = queueName("edit");
  await createQueue(name, { maxAttempts: 1 });
  await send(name, [{ body: { order: 1 }, key: "k", headers: { tenant: "a" } }]);
  const [leased] = await receive(name);
  await ok("POST", `/v1/queues/${name}/nack`, {
    json: { receipts: [leased.receipt], reason: "bad order" },
  });
  await settleDeadLetters(name);
  const [dead] = (await ok("GET", `/v1/queues/${name}/dlq`)).messages;
  return { name, id: dead.id as string };
}

describe("edit and redrive", () => {
  it("changes body and headers, keeps who, when and the old values' SHA-256, and redrives the edit", async () => {
    const { name, id } = await oneDeadLetter();
    const before = Date.now();
    const edited = DeadMessageSchema.parse(
      await ok("POST", `/v1/queues/${name}/dlq/${id}/edit`, {
        json: { body: { order: 1, fixed: true }, headers: { tenant: "b" } },
      }),
    );
    expect(edited).toMatchObject({ body: { order: 1, fixed: true }, headers: { tenant: "b" } });
    expect(edited.edits).toEqual([
      { at: expect.any(Number), by: "admin", field: "body", previousSha256: sha256('{"order":1}') },
      {
        at: expect.any(Number),
        by: "admin",
        field: "headers",
        previousSha256: sha256('{"tenant":"a"}'),
      },
    ]);
    expect(edited.edits[0].at).toBeGreaterThanOrEqual(before);
    // The failures stay: the timeline has both.
    expect(edited.failures).toMatchObject([{ reason: "bad order" }]);

    // A second edit, by a key, adds to the timeline.
    const { id: keyId, secret: admin } = await ok("POST", "/v1/keys", {
      json: { name: "editor", scopes: ["admin"], queues: [name] },
    });
    const again = await ok("POST", `/v1/queues/${name}/dlq/${id}/edit`, {
      json: { body: "plain now", contentType: "text/plain" },
      token: admin,
    });
    expect(again).toMatchObject({ body: "plain now", contentType: "text/plain" });
    expect(again.edits).toHaveLength(3);
    expect(again.edits[2]).toMatchObject({
      by: keyId,
      field: "body",
      previousSha256: sha256('{"order":1,"fixed":true}'),
    });
    expect((await ok("GET", `/v1/queues/${name}/dlq/${id}`)).edits).toEqual(again.edits);

    await ok("POST", `/v1/queues/${name}/dlq/redrive`, { json: { ids: [id] } });
    const [redriven] = await receive(name);
    expect(redriven).toMatchObject({
      body: "plain now",
      contentType: "text/plain",
      headers: { tenant: "b" },
      key: "k",
    });
  });

  it("refuses an edit that changes nothing or would not be a valid message, changing nothing", async () => {
    const { name, id } = await oneDeadLetter();
    const path = `/v1/queues/${name}/dlq/${id}/edit`;
    for (const json of [
      {},
      { contentType: "text/plain" },
      { body: 5, contentType: "text/plain" },
      { body: "%%%", contentType: "application/octet-stream" },
      { headers: { "bad name": "x" } },
      { body: 1, extra: true },
    ]) {
      await expectProblem(await call("POST", path, { json }), 400, "invalid_request");
    }
    await expectProblem(
      await call("POST", `/v1/queues/${name}/dlq/nope/edit`, { json: { body: 1 } }),
      404,
      "dead_letter_not_found",
    );
    const consumer = await createKey(["consume"], [name]);
    await expectProblem(
      await call("POST", path, { json: { body: 1 }, token: consumer }),
      403,
      "forbidden",
    );
    expect((await ok("GET", `/v1/queues/${name}/dlq/${id}`)).edits).toEqual([]);
  });

  it("edits through the SDK and the service binding", async () => {
    const { name, id } = await oneDeadLetter();
    const bySdk = await client().editDeadLetter(name, id, { headers: { tenant: "c" } });
    expect(bySdk).toMatchObject({ headers: { tenant: "c" }, edits: [{ field: "headers" }] });
    const key = await ok("POST", "/v1/keys", {
      json: { name: "bound", scopes: ["admin"], queues: [name] },
    });
    const byRpc = await bindingFor(key.id).editDeadLetter(name, id, { body: { order: 2 } });
    expect(byRpc).toMatchObject({
      ok: true,
      message: { body: { order: 2 }, edits: [{ field: "headers" }, { field: "body", by: key.id }] },
    });
  });
});
