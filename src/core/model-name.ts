/**
 * The one rule for model (and alias) names, wherever a name comes in: the registry, `--model`
 * options, a model repository's directories. No paths, no dot at the start, bounded.
 */
export const MODEL_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Whether `name` may name a model (or an alias). */
export const isModelName = (name: string): boolean => MODEL_NAME_PATTERN.test(name);
