/**
 * The crash test. Sluice runs in workerd (`wrangler dev`, state persisted on disk) under
 * producers and consumers while the runtime is killed with SIGKILL several times and started
 * again on the same state and port. Then the queue is drained and the ledger judged
 * (`ledger.ts`): nothing answered 2xx lost, no key's order broken, dead letters exactly the
 * exhausted messages, stats that agree with what was drained.
 *
 * The queue is fifo with keys, two partitions, 2-second leases and 3 attempts, so leases
 * expire and messages die while the runtime comes and goes. Producers send batches of one
 * key's next messages with the dedup id as the message's identity, and retry the same batch
 * until it is answered 2xx. Each key belongs to one producer that waits for each answer, so
 * the key's send order is known. Consumers ack, nack, vanish (the lease expires) and sometimes
 * work past their lease, and never ack a message after leaving an earlier one of its key
 * unacked in the same answer. Random choices come from `seed`; timing is the machine's.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DevServer, startDevServer } from "../e2e/support/dev-server.ts";
import {
  type DeadRecord,
  type DeliveryRecord,
  type Fate,
  type FinalState,
  judge,
  type SendRecord,
  type Verdict,
} from "./ledger.ts";

export interface ChaosOptions {
  /** Seconds of load; the kills are spread over them. */
  loadSeconds: number;
  kills: number;
  producers: number;
  consumers: number;
  keysPerProducer: number;
  seed: number;
  /** How long the drain may take before the run counts as failed. */
  drainSeconds: number;
  log: (line: string) => void;
}

export const CHAOS_QUEUE = "chaos.fifo";
export const CHAOS_CONFIG = {
  partitions: 2,
  ordering: "fifo",
  visibilityTimeout: 2,
  maxAttempts: 3,
  retry: { initialDelay: 0.2, maxDelay: 1 },
} as const;

/** Share of leases a consumer acks, nacks, or abandons; the rest of the time it works slowly. */
const ACK_SHARE = 0.7;
const NACK_SHARE = 0.12;
const VANISH_SHARE = 0.13;
/** A slow consumer works this long past its lease before acking. */
const OVERRUN_MS = 700;
const RECEIVE = { max: 5, wait: 1 };
const REQUEST_TIMEOUT_MS = 15_000;
const LEFTOVERS_SHOWN = 10;
/** A lost ack or nack is tried again for this long (the runtime may be restarting). */
const SETTLE_RETRY_MS = 4_000;

export interface ChaosReport {
  verdict: Verdict;
  kills: number;
  restarts: number;
  drained: boolean;
  /** 500s and other answers no client should get, in words. */
  unexpected: string[];
  /** The first few messages a peek still found after the drain, in words. */
  leftovers: string[];
  counters: Counters;
  seconds: { load: number; drain: number; downtime: number };
  ok: boolean;
}

interface Counters {
  sendRequests: number;
  sendFailures: number;
  /** Messages a retry found already stored (`duplicate: true`): a try's answer was lost. */
  storedUnanswered: number;
  receives: number;
  receiveFailures: number;
  slowBatches: number;
  fates: Record<Fate, number>;
  shed: number;
}

type Reply<T> =
  | { answered: true; status: number; body: T; retryAfter: number | null }
  | { answered: false; status: 0; error: string };

type Call = <T>(method: string, path: string, body?: unknown) => Promise<Reply<T>>;

/** A small seeded generator (mulberry32), so a run's choices can be repeated. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const FATES = {
  ack: { done: "acked", stale: "ackStale", unknown: "ackUnknown" },
  nack: { done: "nacked", stale: "nackStale", unknown: "nackUnknown" },
} as const satisfies Record<string, Record<string, Fate>>;

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const rand = random(options.seed);
  const between = (low: number, high: number) => low + rand() * (high - low);
  const stateDir = mkdtempSync(join(tmpdir(), "sluice-chaos-"));
  const token = `chaos-${options.seed}`;
  let server: DevServer = await startDevServer({ stateDir, token });
  const port = Number(new URL(server.url).port);
  const { url } = server;

  const sends: SendRecord[] = [];
  const deliveries: (DeliveryRecord & { receipt: string })[] = [];
  const unexpected: string[] = [];
  const counters: Counters = {
    sendRequests: 0,
    sendFailures: 0,
    storedUnanswered: 0,
    receives: 0,
    receiveFailures: 0,
    slowBatches: 0,
    fates: {
      acked: 0,
      ackStale: 0,
      ackUnknown: 0,
      nacked: 0,
      nackStale: 0,
      nackUnknown: 0,
      vanished: 0,
    },
    shed: 0,
  };
  let phase: "load" | "drain" | "done" = "load";
  let nextBatch = 0;
  let lastDeliveryAt = Date.now();

  async function call<T>(method: string, path: string, body?: unknown): Promise<Reply<T>> {
    try {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const text = await response.text();
      const parsed = text ? JSON.parse(text) : {};
      const retryAfter = response.headers.get("retry-after");
      if (response.status === 429 || response.status === 503) counters.shed++;
      else if (response.status >= 400) {
        unexpected.push(`${method} ${path} answered ${response.status}: ${text.slice(0, 300)}`);
      }
      return {
        answered: true,
        status: response.status,
        body: parsed as T,
        retryAfter: retryAfter ? Number(retryAfter) : null,
      };
    } catch (error) {
      return { answered: false, status: 0, error: String((error as Error).cause ?? error) };
    }
  }

  const started = Date.now();
  const log = (line: string) =>
    options.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}`);

  const created = await call("PUT", `/v1/queues/${CHAOS_QUEUE}`, CHAOS_CONFIG);
  if (created.status !== 201) {
    await server.stop();
    rmSync(stateDir, { recursive: true, force: true });
    throw new Error(`could not create the chaos queue: ${JSON.stringify(created)}`);
  }

  // ── producers ──
  async function sendUntilAnswered(batch: SendRecord[]): Promise<void> {
    const body = {
      messages: batch.map(({ ref, key, index }) => ({
        body: { ref, key, index },
        key,
        dedupId: ref,
      })),
    };
    while (batch.some((record) => record.id === null) && phase !== "done") {
      for (const record of batch) record.tries++;
      counters.sendRequests++;
      const reply = await call<{ messages: SentAnswer[] }>(
        "POST",
        `/v1/queues/${CHAOS_QUEUE}/messages`,
        body,
      );
      if (reply.answered && (reply.status === 201 || reply.status === 207)) {
        for (const sent of reply.body.messages) {
          const record = batch[sent.index];
          record.id ??= sent.id;
          if (sent.duplicate) record.answeredDuplicate = true;
        }
        if (reply.status === 201) return;
      }
      counters.sendFailures++;
      const retryAfter = reply.answered && reply.retryAfter ? reply.retryAfter * 1000 : 0;
      await sleep(Math.min(1_000, Math.max(retryAfter, between(100, 300))));
    }
  }

  async function produce(producer: number): Promise<void> {
    const keys = Array.from({ length: options.keysPerProducer }, (_, k) => `p${producer}k${k}`);
    const nextIndex = new Map<string, number>();
    while (phase === "load") {
      const key = keys[Math.floor(rand() * keys.length)];
      const batch: SendRecord[] = [];
      for (let n = 1 + Math.floor(rand() * 3); n > 0; n--) {
        const index = nextIndex.get(key) ?? 0;
        nextIndex.set(key, index + 1);
        const record: SendRecord = {
          ref: `${key}.${index}`,
          key,
          index,
          id: null,
          tries: 0,
          answeredDuplicate: false,
        };
        sends.push(record);
        batch.push(record);
      }
      await sendUntilAnswered(batch);
      await sleep(between(20, 120));
    }
  }

  // ── consumers ──
  function chooseFate(): "ack" | "nack" | "vanish" | "slow" {
    if (phase !== "load") return "ack";
    const draw = rand();
    if (draw < ACK_SHARE) return "ack";
    if (draw < ACK_SHARE + NACK_SHARE) return "nack";
    if (draw < ACK_SHARE + NACK_SHARE + VANISH_SHARE) return "vanish";
    return "slow";
  }

  /** Each lease's fate from an answer's per-receipt failures (`unanswered`: see `settle`). */
  function settled(
    kind: "ack" | "nack",
    leases: (DeliveryRecord & { receipt: string })[],
    failures: { receipt: string; code: string }[],
    unanswered: boolean,
  ): void {
    const failed = new Map(failures.map((failure) => [failure.receipt, failure.code]));
    for (const lease of leases) {
      const code = failed.get(lease.receipt);
      lease.fate =
        code === undefined
          ? FATES[kind].done
          : code === "receipt_stale" && !unanswered
            ? FATES[kind].stale
            : FATES[kind].unknown;
      if (code === "receipt_invalid") unexpected.push(`${kind} refused ${lease.ref} as invalid`);
    }
  }

  /**
   * Acks or nacks the leases in one request, tried again while no answer comes. A lease whose
   * request went unanswered once (`unanswered` already, when a receive carrying these acks got
   * no answer) may have been settled by it, so a later "stale" is unknown.
   */
  async function settle(
    kind: "ack" | "nack",
    leases: (DeliveryRecord & { receipt: string })[],
    unansweredBefore = false,
  ): Promise<void> {
    if (leases.length === 0) return;
    const sentAt = Date.now();
    for (const lease of leases) lease.settleSentAt ??= sentAt;
    const body =
      kind === "ack"
        ? { receipts: leases.map((lease) => lease.receipt) }
        : {
            receipts: leases.map((lease) => lease.receipt),
            reason: "chaos consumer gave up",
            ...(rand() < 0.5 ? { delaySeconds: 0 } : {}),
          };
    let unanswered = unansweredBefore;
    while (Date.now() - sentAt < SETTLE_RETRY_MS) {
      const reply = await call<{ failed: { receipt: string; code: string }[] }>(
        "POST",
        `/v1/queues/${CHAOS_QUEUE}/${kind}`,
        body,
      );
      if (reply.answered && reply.status === 200) {
        settled(kind, leases, reply.body.failed, unanswered);
        return;
      }
      unanswered = true;
      await sleep(300);
    }
    for (const lease of leases) lease.fate = FATES[kind].unknown;
  }

  /**
   * Half the time a batch's acks ride on the consumer's next receive (`ack`); when that receive
   * is not answered 200 they go to `/ack` after all, as unknown if it got no answer at all.
   */
  async function consume(): Promise<void> {
    let carried: (DeliveryRecord & { receipt: string })[] = [];
    while (phase !== "done") {
      const requestedAt = Date.now();
      counters.receives++;
      for (const lease of carried) lease.settleSentAt = requestedAt;
      const reply = await call<{
        messages: ReceivedAnswer[];
        ack?: { failed: { receipt: string; code: string }[] };
      }>(
        "POST",
        `/v1/queues/${CHAOS_QUEUE}/receive`,
        carried.length > 0 ? { ...RECEIVE, ack: carried.map((lease) => lease.receipt) } : RECEIVE,
      );
      if (carried.length > 0) {
        if (reply.answered && reply.status === 200 && reply.body.ack) {
          settled("ack", carried, reply.body.ack.failed, false);
        } else {
          // Refused with an answer, the receive acked nothing: the ack is sent from now on.
          if (reply.answered) for (const lease of carried) lease.settleSentAt = null;
          await settle("ack", carried, !reply.answered);
        }
        carried = [];
      }
      if (!reply.answered || reply.status !== 200) {
        counters.receiveFailures++;
        await sleep(between(100, 250));
        continue;
      }
      const receivedAt = Date.now();
      const batch = nextBatch++;
      const { messages } = reply.body;
      if (messages.length === 0) continue;
      lastDeliveryAt = receivedAt;
      const leases = messages.map((message, position) => {
        const lease = {
          id: message.id,
          ref: message.body.ref,
          key: message.body.key,
          index: message.body.index,
          attempts: message.attempts,
          batch,
          position,
          requestedAt,
          receivedAt,
          leaseExpiresAt: message.leaseExpiresAt,
          fate: "vanished" as Fate,
          settleSentAt: null,
          receipt: message.receipt,
        };
        deliveries.push(lease);
        return lease;
      });

      // Once a message of a key is left unacked, later ones of that key in this answer are
      // not acked either: acking them would complete a key's work out of order.
      const unacked = new Set<string>();
      const acks: typeof leases = [];
      const nacks: typeof leases = [];
      let slow = false;
      for (const lease of leases) {
        let fate = chooseFate();
        if (fate === "slow") slow = true;
        if ((fate === "ack" || fate === "slow") && unacked.has(lease.key)) {
          fate = rand() < 0.5 ? "nack" : "vanish";
        }
        if (fate === "nack") nacks.push(lease);
        else if (fate === "vanish") unacked.add(lease.key);
        else acks.push(lease);
        if (fate === "nack") unacked.add(lease.key);
      }
      if (slow) {
        counters.slowBatches++;
        await sleep(Math.max(0, leases[0].leaseExpiresAt - Date.now()) + OVERRUN_MS);
      } else if (phase === "load") {
        await sleep(between(0, 100));
      }
      if (rand() < 0.5) carried = acks;
      else await settle("ack", acks);
      await settle("nack", nacks);
    }
    await settle("ack", carried);
  }

  // ── the killer ──
  let kills = 0;
  let restarts = 0;
  let downtime = 0;
  async function crashRepeatedly(): Promise<void> {
    for (let kill = 1; kill <= options.kills; kill++) {
      const at = (options.loadSeconds * 1000 * kill) / (options.kills + 1);
      const jitter = (options.loadSeconds * 1000 * between(-0.15, 0.15)) / (options.kills + 1);
      await sleep(Math.max(0, started + at + jitter - Date.now()));
      const down = Date.now();
      await server.kill();
      kills++;
      log(
        `SIGKILL ${kill}: ${sends.length} messages asked, ${deliveries.length} deliveries so far`,
      );
      await sleep(between(0, 1_000));
      server = await startDevServer({ stateDir, token, port });
      restarts++;
      downtime += Date.now() - down;
      log(`restart ${restarts}: up again after ${Date.now() - down} ms on the same state`);
    }
  }

  log(
    `load: ${options.producers} producers, ${options.consumers} consumers, ${options.kills} kills over ${options.loadSeconds} s (seed ${options.seed})`,
  );
  const producers = Array.from({ length: options.producers }, (_, p) => produce(p));
  const consumers = Array.from({ length: options.consumers }, () => consume());
  const killer = crashRepeatedly();
  await sleep(options.loadSeconds * 1000);
  await killer;
  const loadEnded = Date.now();
  phase = "drain";
  log("drain: producers finish their last batch; consumers ack everything");
  await Promise.all(producers);

  let final: FinalState | null = null;
  const drainDeadline = Date.now() + options.drainSeconds * 1000;
  while (Date.now() < drainDeadline) {
    await sleep(1_000);
    const reply = await call<{ stats: QueueStats }>("GET", `/v1/queues/${CHAOS_QUEUE}`);
    if (!reply.answered || reply.status !== 200) continue;
    const { stats } = reply.body;
    const held = stats.ready + stats.leased + stats.delayed;
    const handedOff = stats.acked + stats.deadLettered === stats.sent;
    if (held === 0 && handedOff && Date.now() - lastDeliveryAt > 2_000) {
      final = { ...stats, peeked: 0 };
      break;
    }
  }
  const drained = final !== null;
  phase = "done";
  await Promise.all(consumers);
  const drainEnded = Date.now();
  log(drained ? "drained" : `not drained within ${options.drainSeconds} s`);

  const dead = await readDeadLetters(call);
  const stats = await call<{ stats: QueueStats }>("GET", `/v1/queues/${CHAOS_QUEUE}`);
  const peek = await call<{ messages: Leftover[] }>(
    "GET",
    `/v1/queues/${CHAOS_QUEUE}/messages?limit=100`,
  );
  await server.stop();
  rmSync(stateDir, { recursive: true, force: true });
  if (!stats.answered || !peek.answered) throw new Error("the final stats or peek went unanswered");
  final = { ...stats.body.stats, peeked: peek.body.messages.length };
  const leftovers = peek.body.messages.slice(0, LEFTOVERS_SHOWN).map(describeLeftover);
  for (const delivery of deliveries) counters.fates[delivery.fate]++;
  counters.storedUnanswered = sends.filter((send) => send.answeredDuplicate).length;
  const verdict = judge({
    sends,
    deliveries,
    dead,
    final,
    maxAttempts: CHAOS_CONFIG.maxAttempts,
  });
  const internal = unexpected.filter((line) => / answered 5\d\d/.test(line));
  return {
    verdict,
    kills,
    restarts,
    drained,
    unexpected,
    leftovers,
    counters,
    seconds: {
      load: (loadEnded - started) / 1000,
      drain: (drainEnded - loadEnded) / 1000,
      downtime: downtime / 1000,
    },
    ok: verdict.ok && drained && kills === options.kills && internal.length === 0,
  };
}

type QueueStats = Omit<FinalState, "peeked">;

interface Leftover {
  partition: number;
  seq: number;
  key: string | null;
  state: string;
  attempts: number;
  visibleAt: number;
  body: { ref: string };
}

function describeLeftover(message: Leftover): string {
  return `${message.body.ref} on ${message.partition}/${message.seq}: ${message.state}, attempts ${message.attempts}, visible at ${message.visibleAt} (${message.visibleAt - Date.now()} ms from now)`;
}

interface SentAnswer {
  index: number;
  id: string;
  duplicate: boolean;
}

interface ReceivedAnswer {
  id: string;
  receipt: string;
  attempts: number;
  leaseExpiresAt: number;
  body: { ref: string; key: string; index: number };
}

async function readDeadLetters(call: Call): Promise<DeadRecord[]> {
  const dead: DeadRecord[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
    const reply = await call<DeadPage>("GET", `/v1/queues/${CHAOS_QUEUE}/dlq?limit=100${query}`);
    if (!reply.answered || reply.status !== 200) {
      throw new Error(`listing dead letters failed: ${JSON.stringify(reply)}`);
    }
    const page = reply.body;
    for (const message of page.messages) {
      dead.push({
        id: message.id,
        ref: message.body.ref,
        attempts: message.attempts,
        failures: message.failures.length,
        diedAt: message.diedAt,
      });
    }
    cursor = page.cursor;
  } while (cursor !== null);
  return dead;
}

interface DeadPage {
  messages: {
    id: string;
    attempts: number;
    failures: unknown[];
    diedAt: number;
    body: { ref: string };
  }[];
  cursor: string | null;
}

/** The report as lines; the last one is the summary. */
export function describeReport(report: ChaosReport): string[] {
  const { verdict, counters } = report;
  const lines = [
    `sends: ${counters.sendRequests} requests, ${counters.sendFailures} failed and retried; ${verdict.sent} messages answered 2xx, ${counters.storedUnanswered} of them first stored by a try whose answer was lost`,
    `consumers: ${counters.receives} receives (${counters.receiveFailures} failed), ${counters.slowBatches} answers worked past their lease; fates ${JSON.stringify(counters.fates)}`,
    `redeliveries: ${verdict.duplicated} after an unacked lease (expiry or crash), ${verdict.retried} after a nack, ${verdict.unexplained} after a confirmed ack`,
    `checks: locks broken ${verdict.locksBroken}, stored twice ${verdict.storedTwice}, attempts not growing ${verdict.attemptsNotGrowing}, missing dead letters ${verdict.missingDeadLetters}, wrong dead letters ${verdict.wrongDeadLetters}, stats mismatches ${verdict.statsMismatches.length}`,
    `time: ${report.seconds.load.toFixed(0)} s of load, ${report.seconds.downtime.toFixed(1)} s down, drain ${report.seconds.drain.toFixed(0)} s${report.drained ? "" : " (NOT DRAINED)"}; ${counters.shed} shed answers`,
  ];
  for (const mismatch of verdict.statsMismatches) lines.push(`stats mismatch: ${mismatch}`);
  for (const example of verdict.examples) lines.push(`violation: ${example}`);
  for (const line of report.unexpected.slice(0, 10)) lines.push(`unexpected: ${line}`);
  for (const line of report.leftovers) lines.push(`left in the queue: ${line}`);
  lines.push(
    `sent ${verdict.sent}, delivered ${verdict.delivered}, duplicated ${verdict.duplicated}, reordered ${verdict.reordered}, lost ${verdict.lost}, dead-lettered ${verdict.deadLettered}, restarts survived ${report.restarts}`,
  );
  return lines;
}
