import type { Actor } from '../kernel/actor.js';
import type { EventBus } from '../kernel/bus.js';
import type { ResolvedActor } from './effective.js';

/** How long a re-resolved actor is reused (real time); any access or relationship change drops it sooner. */
export const ACTOR_CACHE_MS = 1000;
const MAX_ENTRIES = 10_000;

/** Events after which a cached actor may be wrong: every access change, and CI graph changes (scopes). */
const STALE_AFTER =
  /^(user|group|role|grant|access_request|token)\.|^ci\.(related|unrelated|retired|relationship_type_defined)$/;

interface Entry {
  readonly actor: Actor | null;
  readonly storedAt: number;
  /** Domain time (ms) when a grant or the token expires: the entry is no good from then on. */
  readonly validUntil: number;
}

/**
 * A small cache of current actors, one per event bus (so shared by `og` and every transaction's
 * services). Reads are a map lookup; it is emptied on every event that may change an actor.
 */
export class ActorCache {
  #entries = new Map<string, Entry>();
  #pending = new Map<string, Promise<ResolvedActor | null>>();
  #generation = 0;

  constructor(bus: EventBus) {
    bus.on('*', (event) => {
      if (STALE_AFTER.test(event.type)) this.clear();
    });
  }

  clear(): void {
    this.#entries.clear();
    this.#pending.clear();
    this.#generation++;
  }

  /** The cached actor (maybe null), or undefined when there is none still good at `now`. */
  get(key: string, now: Date): Actor | null | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (performance.now() - entry.storedAt > ACTOR_CACHE_MS || now.getTime() >= entry.validUntil) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.actor;
  }

  /** Resolves `key` once however many ask at the same time; stores the result unless the cache was emptied meanwhile. */
  async resolve(key: string, load: () => Promise<ResolvedActor | null>): Promise<Actor | null> {
    const generation = this.#generation;
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = load();
      this.#pending.set(key, pending);
      pending.then(
        () => this.#pending.get(key) === pending && this.#pending.delete(key),
        () => this.#pending.get(key) === pending && this.#pending.delete(key),
      );
    }
    const resolved = await pending;
    if (generation === this.#generation) {
      if (this.#entries.size >= MAX_ENTRIES) this.#entries.clear();
      this.#entries.set(key, {
        actor: resolved?.actor ?? null,
        storedAt: performance.now(),
        validUntil: resolved?.validUntil?.getTime() ?? Number.POSITIVE_INFINITY,
      });
    }
    return resolved?.actor ?? null;
  }
}

const caches = new WeakMap<EventBus, ActorCache>();

export function actorCacheOf(bus: EventBus): ActorCache {
  let cache = caches.get(bus);
  if (!cache) {
    cache = new ActorCache(bus);
    caches.set(bus, cache);
  }
  return cache;
}
