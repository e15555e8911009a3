/** How an option (by its config-file key, camelCase) is spelled in the environment and as a CLI flag. */

/** `maxQueueRows` -> `QUIVER_MAX_QUEUE_ROWS`. */
export const envName = (key: string): string => 'QUIVER_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
/** `maxQueueRows` -> `max-queue-rows` (the flag without its leading `--`). */
export const flagName = (key: string): string => key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
