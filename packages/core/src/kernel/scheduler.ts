import { type Actor, systemActor } from './actor.js';
import type { Kernel } from './kernel.js';
import type { Logger } from './logger.js';
import * as store from './scheduler-store.js';

/** What a sweep reports: counts of what it did (e.g. `{ breached: 2 }`), for logs and `status()`. */
export type SweepSummary = Readonly<Record<string, number>>;

export interface SweepContext {
  /**
   * The kernel to work through. For a guarded sweep it is bound to the transaction that holds the
   * sweep's advisory lock: write through it (`kernel.write`, `kernel.services`) so the work commits with
   * the lock, or not at all.
   */
  readonly kernel: Kernel;
  /** The time the sweep judges by: the injected clock's, or the one `run({ now })` was given. */
  readonly now: Date;
  /** Who acts, for sweeps that write with no actor of their own (`system:scheduler`). */
  readonly actor: Actor;
}

/**
 * Timed work: SLA breaches, missed job runs, expiring access, maintenance windows, a plugin's probes.
 * A sweep must be idempotent: judging the same `now` twice does nothing the second time.
 */
export interface Sweep {
  /** Unique; a plugin's sweeps are registered as `<plugin>.<name>`. */
  readonly name: string;
  /** How often it is due, in ms (default 30,000). Replicas share the cadence through the database. */
  readonly everyMs?: number;
  /**
   * Default true: runs in one transaction holding the advisory lock `opsgraph.sweep.<name>`; a replica
   * that cannot take it skips the round, and a round another replica ran within `everyMs` is not due.
   * False for a sweep that takes its own locks, e.g. one that sends after commit (notifications).
   * A failed round counts as a round for the cadence: a failing sweep is retried every `everyMs`.
   */
  readonly guarded?: boolean;
  run(context: SweepContext): Promise<SweepSummary | undefined>;
}

/** What one sweep did in a round. */
export interface SweepReport {
  readonly name: string;
  /** `ran`; `locked`: another replica holds it; `not-due`: it ran within `everyMs`; `failed`. */
  readonly outcome: 'ran' | 'locked' | 'not-due' | 'failed';
  readonly summary: SweepSummary;
  readonly durationMs: number;
  readonly error?: string;
}

/** A sweep's last run, whichever replica ran it. */
export interface SweepStatus {
  readonly name: string;
  readonly everyMs: number;
  readonly guarded: boolean;
  readonly lastRunAt: Date | null;
  readonly lastDurationMs: number | null;
  readonly lastSummary: SweepSummary | null;
  readonly lastErrorAt: Date | null;
  readonly lastError: string | null;
  readonly runs: number;
  /** Failures since the last success. */
  readonly failures: number;
}

export interface SchedulerRunOptions {
  /** Judge by this time instead of the clock's (tests, backfills). */
  readonly now?: Date;
  /** Only these sweeps (by name); default all. */
  readonly only?: readonly string[];
}

export interface StartSchedulerOptions {
  /** How often the runner looks for due sweeps, in ms (default 5,000, at least 10). */
  readonly tickMs?: number;
  /** Per sweep: another cadence in ms, or `false` to leave it to the app. */
  readonly every?: Readonly<Record<string, number | false>>;
}

export interface SchedulerRunner {
  /** Stops ticking and waits for a round in progress. */
  stop(): Promise<void>;
}

export const DEFAULT_SWEEP_EVERY_MS = 30_000;
const schedulerActor = systemActor('scheduler');

/**
 * One mechanism for all timed work (`og.scheduler`). Each sweep runs idempotently under a PostgreSQL
 * advisory lock, so several replicas can tick and one acts; the time comes from the injected clock, so
 * tests move the clock and call `runDue()` or `run()`. `start()` is what a server calls.
 */
export class Scheduler {
  readonly #sweeps = new Map<string, Sweep>();
  readonly #listeners = new Set<(report: SweepReport) => void>();

  constructor(
    private readonly kernel: Kernel,
    sweeps: readonly Sweep[],
    private readonly logger: Logger,
  ) {
    for (const sweep of sweeps) {
      if (this.#sweeps.has(sweep.name)) throw new Error(`two sweeps are named "${sweep.name}"`);
      checkEvery(`sweep "${sweep.name}" everyMs`, sweep.everyMs ?? DEFAULT_SWEEP_EVERY_MS);
      this.#sweeps.set(sweep.name, sweep);
    }
  }

  /** The registered sweeps' names, in the order a round runs them. */
  get names(): readonly string[] {
    return [...this.#sweeps.keys()];
  }

  /** Runs the sweeps now (all, or `only`), due or not; each is still skipped if another replica holds it. */
  run(options: SchedulerRunOptions = {}): Promise<SweepReport[]> {
    return this.#round(options, false);
  }

  /** Runs the sweeps whose last run or failure, by any replica, is at least their `everyMs` ago. */
  runDue(options: SchedulerRunOptions = {}): Promise<SweepReport[]> {
    return this.#round(options, true);
  }

  /** Called with every sweep's report in this process (e.g. for metrics); returns the unsubscribe. */
  onReport(listener: (report: SweepReport) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Each sweep's cadence and last run (the database's record, shared by replicas). */
  async status(): Promise<SweepStatus[]> {
    const rows = new Map((await store.listSweepRows(this.kernel.db)).map((r) => [r.name, r]));
    return [...this.#sweeps.values()].map((sweep) => {
      const row = rows.get(sweep.name);
      return {
        name: sweep.name,
        everyMs: sweep.everyMs ?? DEFAULT_SWEEP_EVERY_MS,
        guarded: sweep.guarded !== false,
        lastRunAt: row?.lastRunAt ? new Date(row.lastRunAt) : null,
        lastDurationMs: row?.lastDurationMs ?? null,
        lastSummary: row?.lastSummary ?? null,
        lastErrorAt: row?.lastErrorAt ? new Date(row.lastErrorAt) : null,
        lastError: row?.lastError ?? null,
        runs: Number(row?.runs ?? 0),
        failures: Number(row?.failures ?? 0),
      };
    });
  }

  /**
   * Ticks every `tickMs` and runs what is due; one round at a time; failures are logged and the sweep
   * tried again when next due. Each call is its own runner (one per server); `stop()` it on shutdown.
   */
  start(options: StartSchedulerOptions = {}): SchedulerRunner {
    this.checkStartOptions(options);
    const tickMs = options.tickMs ?? 5_000;
    const everyOf = (sweep: Sweep) => options.every?.[sweep.name] ?? sweep.everyMs ?? DEFAULT_SWEEP_EVERY_MS;
    const active = [...this.#sweeps.values()].filter((s) => everyOf(s) !== false);
    if (active.length === 0) return { stop: async () => {} };
    // Wall time of this runner's last attempt per sweep, so a round asks the database only when due here.
    const attempted = new Map<string, number>();
    let running: Promise<unknown> = Promise.resolve();
    let busy = false;
    const timer = setInterval(
      () => {
        if (busy) return; // a slow round is not stacked up behind
        const at = Date.now();
        const due = active.filter((s) => at - (attempted.get(s.name) ?? 0) >= (everyOf(s) as number));
        if (due.length === 0) return;
        for (const s of due) attempted.set(s.name, at);
        busy = true;
        running = this.#round({ only: due.map((s) => s.name) }, true, everyOf).finally(() => {
          busy = false;
        });
      },
      Math.min(tickMs, ...active.map((s) => everyOf(s) as number)),
    );
    timer.unref();
    return {
      stop: async () => {
        clearInterval(timer);
        await running;
      },
    };
  }

  /** Throws a TypeError naming the option when `start(options)` would (e.g. at a server's creation). */
  checkStartOptions(options: StartSchedulerOptions): void {
    checkEvery('tickMs', options.tickMs ?? 5_000);
    for (const [name, every] of Object.entries(options.every ?? {})) {
      if (!this.#sweeps.has(name))
        throw new TypeError(`every.${name}: no sweep is named "${name}"; known: ${this.names.join(', ')}`);
      if (every !== false) checkEvery(`every.${name}`, every);
    }
  }

  async #round(
    { now, only }: SchedulerRunOptions,
    dueOnly: boolean,
    everyOf: (sweep: Sweep) => number | false = (s) => s.everyMs ?? DEFAULT_SWEEP_EVERY_MS,
  ): Promise<SweepReport[]> {
    for (const name of only ?? [])
      if (!this.#sweeps.has(name))
        throw new TypeError(`no sweep is named "${name}"; known: ${this.names.join(', ')}`);
    const sweeps = [...this.#sweeps.values()].filter((s) => !only || only.includes(s.name));
    const reports: SweepReport[] = [];
    // One after another: on PGlite's single connection they would queue anyway, and a round stays cheap.
    for (const sweep of sweeps) {
      const report = await this.#runOne(sweep, now, dueOnly ? everyOf(sweep) : false);
      reports.push(report);
      for (const listener of this.#listeners) {
        try {
          listener(report);
        } catch (error) {
          this.logger.warn({ err: error, sweep: sweep.name }, 'a sweep report listener failed');
        }
      }
    }
    return reports;
  }

  async #runOne(sweep: Sweep, now: Date | undefined, dueEvery: number | false): Promise<SweepReport> {
    const started = performance.now();
    const at = now ?? this.kernel.clock.now();
    const took = () => Math.round(performance.now() - started);
    try {
      if (sweep.guarded === false) {
        const summary = (await sweep.run({ kernel: this.kernel, now: at, actor: schedulerActor })) ?? {};
        await store.recordSuccess(this.kernel.db, sweep.name, at, took(), summary);
        return this.#report(sweep.name, 'ran', summary, took());
      }
      const result = await this.kernel.transaction(async (kernel) => {
        if (!(await store.trySweepLock(kernel.db, sweep.name))) return 'locked' as const;
        if (dueEvery !== false) {
          const last = await store.lastAttemptAt(kernel.db, sweep.name);
          // A clock moved back (tests) makes the last run look future: run rather than wait for it.
          const since = last ? at.getTime() - last.getTime() : Number.POSITIVE_INFINITY;
          if (since >= 0 && since < dueEvery) return 'not-due' as const;
        }
        const summary = (await sweep.run({ kernel, now: at, actor: schedulerActor })) ?? {};
        await store.recordSuccess(kernel.db, sweep.name, at, took(), summary);
        return summary;
      });
      if (typeof result === 'string') return this.#report(sweep.name, result, {}, took());
      return this.#report(sweep.name, 'ran', result, took());
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.logger.warn(
        { err: error, sweep: sweep.name },
        `sweep "${sweep.name}" failed; nothing it did was kept, and it runs again when next due`,
      );
      try {
        await store.recordFailure(this.kernel.db, sweep.name, at, message);
      } catch (recordError) {
        this.logger.warn({ err: recordError, sweep: sweep.name }, 'could not record the sweep failure');
      }
      return { name: sweep.name, outcome: 'failed', summary: {}, durationMs: took(), error: message };
    }
  }

  #report(name: string, outcome: SweepReport['outcome'], summary: SweepSummary, durationMs: number) {
    const acted = Object.values(summary).some((n) => n > 0);
    if (acted) this.logger.info({ sweep: name, ...summary, durationMs }, `sweep "${name}" acted`);
    return { name, outcome, summary, durationMs };
  }
}

function checkEvery(option: string, ms: number): void {
  if (!Number.isSafeInteger(ms) || ms < 10)
    throw new TypeError(`${option} must be an integer of at least 10 (ms); got ${ms}`);
}
