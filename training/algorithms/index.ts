/** The learning algorithms by name, as `quiver train --algorithm` names them. */
import { gbdt } from './gbdt.js';
import { logistic } from './logistic.js';
import { mlp } from './mlp.js';

export const ALGORITHMS = { logistic, gbdt, mlp } as const;
export type AlgorithmName = keyof typeof ALGORITHMS;
export const ALGORITHM_NAMES = Object.keys(ALGORITHMS) as AlgorithmName[];

export function isAlgorithmName(name: string): name is AlgorithmName {
  return Object.hasOwn(ALGORITHMS, name);
}
