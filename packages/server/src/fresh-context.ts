import { contextCacheSymbol } from '@pothos/core';
import type { Plugin } from 'graphql-yoga';

/**
 * Each subscription event runs with empty per-request caches. A subscription keeps one context for as
 * long as it is open; Pothos keys its DataLoaders and its auth-scope cache on that context, so without
 * this an event would be answered from what an earlier event loaded (a CI's relationships as they were
 * then) and scopes computed when it started. Pothos looks its caches up under `contextCacheSymbol`
 * when the context has one: a new object there is a new cache.
 */
export function useFreshCachesPerEvent(): Plugin {
  return {
    onSubscribe({ args }) {
      const context = args.contextValue as unknown as Record<symbol, unknown>;
      const reset = () => {
        context[contextCacheSymbol] = {};
      };
      return {
        onSubscribeResult() {
          // After the subscribe resolver (its loaders and scopes), and again after each event.
          reset();
          return { onNext: reset };
        },
      };
    },
  };
}
