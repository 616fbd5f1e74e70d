import { SearchSpec, type SearchSpecInput } from '../../schemas/search.js';

/** A minimal valid search spec (micro-28 on Fashion-MNIST) with the fields a unit test is about. */
export function searchSpec(over: Partial<SearchSpecInput> = {}): SearchSpec {
  return SearchSpec.parse({
    name: 'unit',
    baseline: 'micro-28',
    task: { dataset: { format: 'fashion-mnist' } },
    ...over,
  });
}
