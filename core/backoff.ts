/**
 * How long a failed message waits before it is visible again. Exponential in the attempts
 * so far, capped, and with full jitter (a uniform draw between zero and the cap) so that
 * messages that failed together do not come back together.
 */
import type { RetryPolicy } from "./queue-config.ts";

/**
 * Seconds to wait after failed attempt number `attempts` (1-based):
 * `min(maxDelay, initialDelay * multiplier^(attempts - 1))`, or a uniform draw in
 * `[0, that)` when `jitter` is on. `random` is injectable for tests.
 */
export function retryDelaySeconds(
  policy: RetryPolicy,
  attempts: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, attempts - 1);
  const ceiling = Math.min(policy.maxDelay, policy.initialDelay * policy.multiplier ** exponent);
  return policy.jitter ? random() * ceiling : ceiling;
}
