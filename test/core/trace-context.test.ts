import { describe, expect, it } from "vitest";
import {
  isTraceparent,
  traceContextOf,
  traceparentFromXray,
  withTraceContext,
  xrayFromTraceparent,
} from "../../core/trace-context.ts";

const PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("W3C trace context", () => {
  it.each([
    [PARENT, true],
    ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true],
    ["00-00000000000000000000000000000000-00f067aa0ba902b7-01", false],
    ["00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false],
    ["01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false],
    ["00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false],
    ["00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", false],
    ["garbage", false],
  ])("reads %j as a traceparent: %s", (value, valid) => {
    expect(isTraceparent(value)).toBe(valid);
  });

  it("takes a request's trace context, ignoring an invalid traceparent and tracestate", () => {
    const headers = (entries: Record<string, string>) => new Headers(entries);
    expect(
      traceContextOf(headers({ traceparent: PARENT, tracestate: "vendor=1,other=2" })),
    ).toEqual({ traceparent: PARENT, tracestate: "vendor=1,other=2" });
    expect(traceContextOf(headers({ traceparent: ` ${PARENT.toUpperCase()} ` }))).toEqual({
      traceparent: PARENT,
    });
    expect(traceContextOf(headers({ traceparent: "bad", tracestate: "a=1" }))).toBeNull();
    expect(traceContextOf(headers({ tracestate: "a=1" }))).toBeNull();
    expect(traceContextOf(headers({ traceparent: PARENT, tracestate: "x".repeat(513) }))).toEqual({
      traceparent: PARENT,
    });
  });

  it("adds a trace context to a message's headers unless it carries its own", () => {
    const trace = { traceparent: PARENT, tracestate: "a=1" };
    expect(withTraceContext(undefined, trace)).toEqual(trace);
    expect(withTraceContext({ tenant: "x" }, trace)).toEqual({ tenant: "x", ...trace });
    const own = { Traceparent: "00-11111111111111111111111111111111-2222222222222222-01" };
    expect(withTraceContext(own, trace)).toEqual(own);
  });

  it("converts between traceparent and the AWS X-Ray trace header", () => {
    const xray = "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1";
    expect(traceparentFromXray(xray)).toBe(PARENT);
    expect(xrayFromTraceparent(PARENT)).toBe(xray);
    expect(
      traceparentFromXray(
        "Sampled=0;Parent=00F067AA0BA902B7;Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Lineage=a:1",
      ),
    ).toBe("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    // No parent, no traceparent: a root alone names no span.
    expect(traceparentFromXray("Root=1-5759e988-bd862e3fe1be46a994272793")).toBeNull();
    expect(traceparentFromXray("nonsense")).toBeNull();
    expect(xrayFromTraceparent("bad")).toBeNull();
  });
});
