// A Node service's TypeScript: no DOM library, only @types/node. The package's types must not
// need DOM types to be usable from Node.
import { createReranker, FewclickError, syntheticModel, type Ranking } from 'fewclick';

export async function rankOnServer(modelPath: string, ids: string[], features: number[]): Promise<Ranking | string> {
  const reranker = await createReranker(modelPath.length > 0 ? modelPath : await syntheticModel(16, 32));
  try {
    reranker.setResults({ ids, features, featureNames: reranker.modelInfo().featureNames });
    return reranker.rank();
  } catch (e) {
    return e instanceof FewclickError ? e.code : 'unexpected';
  } finally {
    reranker.free();
  }
}
