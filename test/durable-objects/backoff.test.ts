import { describe, expect, it } from "vitest";
import { retryDelaySeconds } from "../../core/backoff.ts";
import type { RetryPolicy } from "../../core/queue-config.ts";

const policy: RetryPolicy = { initialDelay: 2, maxDelay: 60, multiplier: 3, jitter: false };

describe("retry backoff", () => {
  it("starts at initialDelay after the first failed attempt", () => {
    expect(retryDelaySeconds(policy, 1)).toBe(2);
  });

  it("grows by the multiplier with each attempt", () => {
    expect([2, 3, 4].map((attempts) => retryDelaySeconds(policy, attempts))).toEqual([6, 18, 54]);
  });

  it("never waits longer than maxDelay", () => {
    expect(retryDelaySeconds(policy, 5)).toBe(60);
    expect(retryDelaySeconds(policy, 100)).toBe(60);
  });

  it("waits not at all with an initialDelay of 0", () => {
    expect(retryDelaySeconds({ ...policy, initialDelay: 0 }, 7)).toBe(0);
  });

  it("draws uniformly between zero and the delay with full jitter", () => {
    const jittered = { ...policy, jitter: true };
    expect(retryDelaySeconds(jittered, 3, () => 0)).toBe(0);
    expect(retryDelaySeconds(jittered, 3, () => 0.5)).toBe(9);
    expect(retryDelaySeconds(jittered, 3, () => 0.999)).toBeCloseTo(17.982);
    expect(retryDelaySeconds(jittered, 9, () => 0.5)).toBe(30);
  });

  it("stays within its bounds under the real random source", () => {
    const jittered = { ...policy, jitter: true };
    for (let i = 0; i < 1_000; i++) {
      const delay = retryDelaySeconds(jittered, 2);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(6);
    }
  });
});
