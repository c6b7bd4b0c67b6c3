import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { latestSeq, listActivity } from './activity-store.js';
import type { EventBus } from './bus.js';
import type { AnyDomainEvent } from './events.js';

/** Events a read of the tail takes at most; a fuller table is read again on the next catch-up. */
const READ_LIMIT = 1000;
/** Events the tail keeps for followers a little behind; one further back reads the table itself. */
const KEPT = 5000;

/**
 * The newest events of the activity table, read once per process for every live follower: a thousand
 * subscribers woken by one commit cost one query, not a thousand. Holds every committed event with
 * `floor < seq <= head` (seqs may skip: a rolled-back writer leaves a gap); a follower further behind
 * than `floor` reads the table on its own until it catches up.
 */
export class ActivityTail {
  #events: AnyDomainEvent[] = [];
  #floor = 0;
  #head = -1; // unknown until the first read
  /** The bus generation seen when the newest completed read started: every wake up to it is read. */
  #readGeneration = -1;
  #started = 0;
  #completed = 0;
  #reading: Promise<void> | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly bus: EventBus,
    private readonly limits: { readonly kept: number; readonly readLimit: number } = {
      kept: KEPT,
      readLimit: READ_LIMIT,
    },
  ) {}

  /**
   * The events after `after` it holds, oldest first, at most `limit`; `undefined` when `after` lies
   * before what it holds (read the table instead). An empty array: nothing newer as of its last read.
   */
  eventsAfter(after: number, limit = 500): AnyDomainEvent[] | undefined {
    if (this.#head < 0 || after < this.#floor) return undefined;
    const events = this.#events;
    let low = 0;
    let high = events.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (events[mid]!.seq <= after) low = mid + 1;
      else high = mid;
    }
    return events.slice(low, low + limit);
  }

  /** Whether it has read at all (it starts on the first follower's need). */
  get started(): boolean {
    return this.#head >= 0;
  }

  /** Whether every commit woken up to bus generation `generation` has been read. */
  covers(generation: number): boolean {
    return this.#readGeneration >= generation;
  }

  /**
   * Reads until it covers `generation` (with `fresh`, until a read that started after this call has
   * completed: a lost NOTIFY woke nobody), or until a read brought new events, which the caller
   * delivers before asking again. Concurrent callers share each read. The first call starts the tail
   * at `from` (the caller's position) when that is near the newest event, else at the newest.
   */
  async catchUp(generation: number, fresh = false, from?: number): Promise<void> {
    const mustExceed = fresh ? this.#started : -1;
    const head = this.#head;
    while (!this.covers(generation) || this.#completed <= mustExceed) {
      this.#reading ??= this.#read(from).finally(() => {
        this.#reading = undefined;
      });
      await this.#reading;
      if (head >= 0 && this.#head !== head) return;
    }
  }

  async #read(from: number | undefined): Promise<void> {
    const number = ++this.#started;
    const generation = this.bus.generation;
    if (this.#head < 0) {
      // Followers behind where it starts read their backlog from the table; it reads on from here.
      const newest = await latestSeq(this.db);
      const start = from !== undefined && from <= newest && newest - from <= this.limits.kept ? from : newest;
      this.#head = this.#floor = start;
      if (start < newest) {
        this.#completed = number;
        return;
      }
    } else {
      const events = await listActivity(this.db, { after: this.#head, limit: this.limits.readLimit });
      if (events.length > 0) {
        this.#events.push(...events);
        this.#head = events[events.length - 1]!.seq;
        const excess = this.#events.length - this.limits.kept;
        if (excess > 0) this.#floor = this.#events.splice(0, excess)[excess - 1]!.seq;
      }
      // A full read may have left more behind: the next catch-up reads again.
      if (events.length === this.limits.readLimit) {
        this.#completed = number;
        return;
      }
    }
    this.#readGeneration = Math.max(this.#readGeneration, generation);
    this.#completed = number;
  }
}
