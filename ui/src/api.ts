/**
 * How the console reaches the server: the generated REST client (gateway/client/quiver-rest.ts)
 * on this page's own origin, with the registry token typed into the console, kept for this
 * browser tab only (sessionStorage). Every call goes through the gateway's usual access rules.
 */
import { GatewayError } from '../../gateway/client/gateway-error.js';
import type { InitReq } from '../../gateway/client/transport.js';

export { PredictionService, RegistryService } from '../../gateway/client/quiver-rest.js';

const TOKEN_KEY = 'quiver-registry-token';

export function getToken(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

export function setToken(token: string): void {
  if (token === '') sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

/** The client's options for one call: this origin, and the token when one was typed. */
export function init(): InitReq {
  const token = getToken();
  return { baseUrl: location.origin, headers: token === '' ? {} : { authorization: `Bearer ${token}` } };
}

/** One line for a failed call: the server's message, and what to do about a refusal. */
export function describeError(err: unknown): string {
  if (err instanceof GatewayError) {
    if (err.status === 401) return `${err.message} — type a registry token above.`;
    if (err.status === 403) return `${err.message} — this token lacks the scope; type one that has it.`;
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

/** A 404 from the server (e.g. a model without a rollout). */
export const isNotFound = (err: unknown): boolean => err instanceof GatewayError && err.status === 404;
