/**
 * How the REST client's calls reach the gateway: where it is (InitReq), the URL a request's
 * fields fill in (the path template, the rest as query parameters), the fetch, and a non-2xx
 * answer turned into a GatewayError. The generated service classes (quiver-rest.ts) call these.
 */
import { GatewayError } from './gateway-error.js';

export interface InitReq {
  /**
   * The gateway's base URL: the inference plane's (httpPort), e.g. http://127.0.0.1:8080, for
   * PredictionService; the registry plane's (registryHttpPort), e.g. http://127.0.0.1:8081, for
   * RegistryService.
   */
  baseUrl: string;
  headers?: Record<string, string>;
  fetch?: typeof fetch;
}

/** The path template with the request's fields filled in (snake_case in the template, lowerCamelCase in the request); records the top-level fields it used. */
export function renderPath(template: string, req: Record<string, unknown>, used: Set<string>): string {
  return template.replace(/\{([^}=]+)(?:=[^}]*)?\}/g, (_m, field: string) => {
    used.add(field.split('.')[0] as string);
    let v: unknown = req;
    for (const part of field.split('.'))
      v = (v as Record<string, unknown> | undefined)?.[part.replace(/_([a-z0-9])/g, (_x, c: string) => c.toUpperCase())];
    if (v === undefined || v === null || v === '') throw new Error(`missing path parameter ${field}`);
    return encodeURIComponent(String(v));
  });
}

/** The request's scalar fields not used by the path or the body, as a query string (`?a=1&b=2`, or empty). */
export function query(req: Record<string, unknown>, used: Set<string>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(req)) {
    if (used.has(k) || v === undefined || v === null || typeof v === 'object') continue;
    q.append(k, String(v));
  }
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

/** One call with one JSON answer; `ndjson` sends the body as newline-delimited JSON (a client-streaming RPC). */
export async function call<O>(method: string, path: string, body: string | undefined, init: InitReq, ndjson: boolean): Promise<O> {
  const res = await (init.fetch ?? fetch)(init.baseUrl.replace(/\/$/, '') + path, {
    method,
    headers: { 'content-type': ndjson ? 'application/x-ndjson' : 'application/json', ...init.headers },
    ...(body === undefined ? {} : { body }),
  });
  const text = await res.text();
  if (!res.ok) {
    let e: { code?: number; message?: string; details?: unknown[] };
    try {
      e = JSON.parse(text);
    } catch {
      e = { message: text };
    }
    throw new GatewayError(res.status, e.code ?? 2, e.message ?? res.statusText, e.details ?? []);
  }
  return JSON.parse(text) as O;
}

/** One call whose answer is newline-delimited JSON, `{result}` a line (a server-streaming RPC): the results in order. */
export async function callStream<O>(method: string, path: string, body: string | undefined, init: InitReq): Promise<O[]> {
  const res = await (init.fetch ?? fetch)(init.baseUrl.replace(/\/$/, '') + path, {
    method,
    headers: { 'content-type': 'application/x-ndjson', ...init.headers },
    ...(body === undefined ? {} : { body }),
  });
  const text = await res.text();
  if (!res.ok) {
    const e = JSON.parse(text) as { code?: number; message?: string; details?: unknown[] };
    throw new GatewayError(res.status, e.code ?? 2, e.message ?? res.statusText, e.details ?? []);
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => (JSON.parse(l) as { result: O }).result);
}
