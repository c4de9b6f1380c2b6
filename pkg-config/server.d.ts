/** A model's item table, read from a `fewclick export-items --jsonl` file. */
export interface ItemLookup {
  /** The feature names, in column order (pass them as `featureNames`). */
  readonly names: readonly string[];
  /** The cold-item vector. */
  readonly default: Float32Array;
  /** Integrity string (`sha256-…`) of the model file the table came from, or null. */
  readonly model: string | null;
  /** Number of items held. */
  readonly size: number;
  has(id: string): boolean;
  /**
   * The vectors of `ids`, row-major, cold items getting the default — what the page's core
   * would look up in the model. Throws `INVALID_INPUT` unless `ids` is an array of strings.
   */
  lookup(ids: readonly string[]): { features: Float32Array; featureNames: string[]; missing: string[] };
}

/** Reads an export; a missing or malformed file is a FewclickError `INVALID_INPUT` naming the line. */
export declare function loadItems(path: string): Promise<ItemLookup>;
