// Types of `fewclick/react` (needs React >= 18 at run time; these types need no React types).
import type { BackendPreference, CreateRerankerOptions, FewclickError, ModelSource, Reranker, Results, ShopperEvent } from './index.js';

export interface UseRerankerOptions extends CreateRerankerOptions {
  /** rankAsync()'s backend for the hook's rankings (default `'auto'`: WebGPU where it pays).
   * Changing it applies from the next ranking on; it does not re-create the reranker. */
  backend?: BackendPreference;
}

/**
 * - `idle`: no model given;
 * - `loading`: the reranker is being created (the model fetched, checked, loaded);
 * - `ready`: the reranker exists (`error` may still hold a failed call's error);
 * - `error`: the reranker could not be created (`error` says why).
 */
export type UseRerankerStatus = 'idle' | 'loading' | 'ready' | 'error';

export interface UseReranker {
  /**
   * The current results' ids in the ranked order: the host's order (`results.ids`) until a
   * ranking of these results exists (while loading, before the first ranking, on the server,
   * after an error); empty without results.
   */
  ranked: readonly string[];
  /**
   * Records a shopper's event and re-ranks (the new order arrives in `ranked`). Stable across
   * renders. Events recorded before the model has loaded are kept, stamped with the time they
   * happened, and applied once it has; with no model, or one that failed to load, they are
   * dropped. A bad event sets `error` instead of throwing.
   */
  record(event: ShopperEvent): void;
  status: UseRerankerStatus;
  /** Why the reranker could not be created (`status` `error`), or the last failed call
   * (setResults with these results, record, a ranking); null again after a ranking succeeds. */
  error: FewclickError | null;
  /**
   * The reranker itself, once created (for `explain()`, `modelInfo()`…); freed by the hook when
   * the model changes or the component unmounts. While the hook's ranking is pending its methods
   * other than `record()` throw BUSY.
   */
  reranker: Reranker | null;
}

/**
 * A reranker for a React component.
 *
 * @param model The model's URL or bytes; `null`/`undefined` for none yet. One reranker is created
 *   per model (URLs compared by value, bytes by identity: keep bytes in state or a memo) and per
 *   reranker options (compared by value); the previous one is freed, and its session with it.
 * @param results What `setResults` takes, passed to it unchanged whenever it changes (compared
 *   key by key with `Object.is`: an object rebuilt each render from the same arrays is no change;
 *   give new arrays for new results). `null`/`undefined`: none yet.
 * @param options createReranker()'s options (`integrity` included) and `backend`.
 */
export declare function useReranker(
  model: ModelSource | null | undefined,
  results: Results | null | undefined,
  options?: UseRerankerOptions,
): UseReranker;
