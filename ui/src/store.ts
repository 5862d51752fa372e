/**
 * A value that components can follow (`useStore`), for the few pieces of state the whole page
 * shares: the connection indicator, an authentication failure, the colour theme.
 */
import { useEffect, useState } from "preact/hooks";

/** A shared value with change notifications. */
export interface Store<T> {
  get(): T;
  /** Sets the value; subscribers are called only when it changed (Object.is). */
  set(value: T): void;
  /** Calls `fn` after each change; returns the unsubscribe function. */
  subscribe(fn: () => void): () => void;
}

/** A store holding `initial`. */
export function createStore<T>(initial: T): Store<T> {
  let value = initial;
  const subs = new Set<() => void>();
  return {
    get: () => value,
    set(v) {
      if (Object.is(v, value)) return;
      value = v;
      for (const fn of [...subs]) fn();
    },
    subscribe(fn) {
      subs.add(fn);
      return () => subs.delete(fn);
    },
  };
}

/** The store's value, re-rendering the component when it changes. */
export function useStore<T>(store: Store<T>): T {
  const [, setTick] = useState(0);
  useEffect(() => store.subscribe(() => setTick((n) => n + 1)), [store]);
  return store.get();
}
