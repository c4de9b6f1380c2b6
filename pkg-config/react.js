// fewclick/react: useReranker(), a React hook over createReranker(). An optional entry: the
// package's main entry never imports this file, so pages without React never load it, and React
// is an optional peer dependency (>= 18).
//
// The hook owns one reranker per model (and reranker options): it creates it after mount, frees
// it when the model changes or the component unmounts (after a pending ranking settles), hands it
// the results whenever they change and re-ranks after every recorded event. Rankings run through
// rankAsync() (WebGPU where it pays), at most one at a time: events recorded meanwhile are queued
// by the reranker and a new ranking follows as soon as the pending one settles.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
// The package by its own name, so Node (and SSR tests) get the Node entry and bundlers the browser
// entry: the same module instance the host's own `import 'fewclick'` gets.
import { FewclickError, createReranker } from 'fewclick';

const EMPTY = Object.freeze([]);

/** Whether two results objects hold the same values (each compared with Object.is): a results
 * object rebuilt in every render from the same arrays is not a change. */
function sameResults(a, b) {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.prototype.hasOwnProperty.call(b, k) && Object.is(a[k], b[k]));
}

function sameIds(a, b) {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

/** Whether a ranking's ids are the current results' (the ranking is for this list). */
function sameIdSet(ranked, ids) {
  if (ranked.length !== ids.length) return false;
  const set = new Set(ids);
  return ranked.every((id) => set.has(id));
}

/** A value to compare the reranker's options by, so options written inline (a new object each
 * render) do not re-create the reranker; options that cannot be serialised compare by identity. */
function optionsKey(options) {
  try {
    return JSON.stringify(Object.keys(options).sort().map((k) => [k, options[k]]));
  } catch {
    return options;
  }
}

/** The model as an effect dependency: URLs by value, bytes by identity. */
function modelKey(model) {
  if (typeof URL === 'function' && model instanceof URL) return model.href;
  return model;
}

/** An event kept until the reranker exists, with the time it happened. */
function stamped(event) {
  return event !== null && typeof event === 'object' && event.timestamp == null ? { ...event, timestamp: Date.now() } : event;
}

/** Drives one reranker: results, events, one ranking at a time, freeing. */
class Session {
  reranker = null;
  disposed = false;
  results = null;
  resultsChanged = false;
  early = []; // events recorded before the reranker existed
  inFlight = false;
  again = false;

  constructor(hooks) {
    this.hooks = hooks; // { backend(), ranked(ids), failed(error) }
  }

  show(results) {
    if (sameResults(results, this.results)) return;
    this.results = results;
    this.resultsChanged = true;
    this.pump();
  }

  record(event) {
    if (this.disposed) return;
    if (this.reranker === null) {
      this.early.push(stamped(event));
      return;
    }
    try {
      this.reranker.record(event); // queued by the reranker while a ranking is pending
    } catch (e) {
      this.hooks.failed(e);
      return;
    }
    this.again = true;
    this.pump();
  }

  attach(reranker) {
    this.reranker = reranker;
    this.again = true;
    this.pump();
  }

  pump() {
    const r = this.reranker;
    if (r === null || this.disposed || this.inFlight) return;
    if (this.resultsChanged) {
      this.resultsChanged = false;
      if (this.results !== null && this.results !== undefined) {
        try {
          r.setResults(this.results); // passed through as the host gave it
          this.again = true;
        } catch (e) {
          this.hooks.failed(e);
        }
      }
    }
    if (this.early.length > 0) {
      for (const event of this.early.splice(0)) {
        try {
          r.record(event);
          this.again = true;
        } catch (e) {
          this.hooks.failed(e);
        }
      }
    }
    if (!this.again || this.results === null || this.results === undefined) return;
    this.again = false;
    this.inFlight = true;
    r.rankAsync(this.hooks.backend()).then(
      (ranking) => {
        if (!this.disposed) this.hooks.ranked(ranking.ids);
      },
      (e) => {
        if (this.disposed) return;
        // NO_RESULTS: results the reranker refused; nothing to rank until new ones come.
        if (!(e instanceof FewclickError && e.code === 'NO_RESULTS')) this.hooks.failed(e);
        // A queued event the reranker refused makes this call do nothing: rank again.
        if (e instanceof FewclickError && e.event !== undefined) this.again = true;
      },
    ).finally(() => {
      this.inFlight = false;
      if (this.disposed) r.free();
      else this.pump();
    });
  }

  dispose() {
    this.disposed = true;
    this.early = [];
    if (this.reranker !== null && !this.inFlight) this.reranker.free();
  }
}

/**
 * A reranker for a React component. See react.d.ts.
 * @param model the model's URL or bytes (null/undefined: none yet)
 * @param results setResults()'s argument, passed through unchanged (null/undefined: none yet)
 * @param options createReranker()'s options, plus `backend` for rankAsync()
 */
export function useReranker(model, results, options) {
  const { backend, ...createOptions } = options ?? {};
  const hasModel = model !== null && model !== undefined;
  const key = hasModel ? modelKey(model) : null;
  const optsKey = optionsKey(createOptions);
  // What the session of the current model and options reported; anything recorded for an earlier
  // model or options is ignored below (that reranker is being freed), so a change shows
  // `loading` and the host's order from its first render on.
  const [state, setState] = useState({ model: undefined, options: undefined, status: 'loading', error: null, reranker: null, ranked: null });
  const session = useRef(null);
  const latest = useRef({ results, backend });
  // Events recorded after a model was given but before its session exists (the first commit
  // comes before the effects that create it): handed to the next session.
  const early = useRef({ hasModel, unmounted: false, events: [] });
  early.current.hasModel = hasModel;

  // Declared first, so a new session (below) sees this render's results and backend.
  useEffect(() => {
    latest.current = { results, backend };
    if (session.current !== null) session.current.show(results);
  }, [results, backend]);

  useEffect(() => {
    early.current.unmounted = false;
    return () => {
      early.current.unmounted = true;
      early.current.events = [];
    };
  }, []);

  useEffect(() => {
    if (!hasModel) return undefined;
    const mine = (prev) => prev.model === key && prev.options === optsKey;
    const base = { model: key, options: optsKey };
    let live = true;
    const s = new Session({
      backend: () => latest.current.backend,
      ranked: (ids) =>
        setState((prev) => {
          if (!mine(prev)) return prev;
          if (prev.error === null && prev.ranked !== null && sameIds(prev.ranked, ids)) return prev;
          return { ...prev, error: null, ranked: ids };
        }),
      failed: (error) => setState((prev) => (mine(prev) ? { ...prev, error } : prev)),
    });
    session.current = s;
    s.early = early.current.events.splice(0);
    s.show(latest.current.results);
    createReranker(model, createOptions).then(
      (reranker) => {
        if (!live) {
          reranker.free();
          return;
        }
        setState({ ...base, status: 'ready', error: null, reranker, ranked: null });
        s.attach(reranker);
      },
      (error) => {
        if (!live) return;
        s.dispose();
        setState({ ...base, status: 'error', error, reranker: null, ranked: null });
      },
    );
    return () => {
      live = false;
      s.dispose();
      if (session.current === s) session.current = null;
    };
    // The model by value (URL) or identity (bytes), the options by value.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, optsKey, hasModel]);

  const record = useCallback((event) => {
    if (session.current !== null) session.current.record(event);
    else if (early.current.hasModel && !early.current.unmounted) early.current.events.push(stamped(event));
  }, []);

  const current = hasModel && state.model === key && state.options === optsKey;
  const rankedIds = current ? state.ranked : null;
  const ids = results === null || results === undefined ? undefined : results.ids;
  const ranked = useMemo(() => {
    if (!Array.isArray(ids)) return EMPTY;
    if (rankedIds !== null && sameIdSet(rankedIds, ids)) return rankedIds;
    return ids;
  }, [rankedIds, ids]);

  return {
    ranked,
    record,
    status: !hasModel ? 'idle' : current ? state.status : 'loading',
    error: current ? state.error : null,
    reranker: current ? state.reranker : null,
  };
}
