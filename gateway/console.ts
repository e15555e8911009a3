/**
 * The web console at /ui/: the files `npm run build` makes from ui/ (dist/ui), served by
 * @fastify/static under a Content-Security-Policy that admits this origin's script and styles
 * only (no inline script, no other host). The console promotes and reads lineage, so it lives
 * with the registry's REST routes: on the registry plane's port, or on httpPort when those are
 * served there too. On httpPort otherwise /ui/ redirects to the registry plane's port. The
 * registry plane also serves the two read-only inference routes the console shows live figures
 * from (ListModels, GetStats), each under its usual access rule.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

import { PREDICTION_SERVICE } from '../src/auth/policy.js';
import { failedPrecondition } from '../src/core/errors.js';
import { PACKAGE_ROOT } from '../src/paths.js';
import type { RpcDescriptor } from './descriptors.js';

/** Where `npm run build` (scripts/build-ui.mjs) writes the console. */
export const CONSOLE_DIR = join(PACKAGE_ROOT, 'dist', 'ui');

export const CONSOLE_PATH = '/ui/';

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The inference RPCs the registry plane also serves, for the console's live figures. */
const CONSOLE_READS: ReadonlySet<string> = new Set(['ListModels', 'GetStats']);

export const isConsoleRead = (rpc: RpcDescriptor): boolean => rpc.service === PREDICTION_SERVICE && CONSOLE_READS.has(rpc.name);

/** Serves the console on `app`. */
export function registerConsole(app: FastifyInstance): void {
  if (!existsSync(join(CONSOLE_DIR, 'index.html'))) {
    const notBuilt = (): never => {
      throw failedPrecondition(`the console is not built (no ${join(CONSOLE_DIR, 'index.html')}): run npm run build`);
    };
    app.get('/ui', notBuilt);
    app.get('/ui/*', notBuilt);
    return;
  }
  void app.register(fastifyStatic, {
    root: CONSOLE_DIR,
    prefix: CONSOLE_PATH,
    // /ui answers with a redirect to /ui/.
    redirect: true,
    setHeaders: (res) => {
      res.setHeader('content-security-policy', CONSOLE_CSP);
      res.setHeader('x-content-type-options', 'nosniff');
      res.setHeader('referrer-policy', 'no-referrer');
    },
  });
}

/** On httpPort when the console is on the registry plane's port: /ui/ redirects there (same host name). */
export function redirectToConsole(app: FastifyInstance, registryPort: () => number | undefined, https: boolean): void {
  const redirect = (req: { hostname: string }, reply: { redirect(url: string, code: number): unknown }): unknown => {
    const host = req.hostname.includes(':') && !req.hostname.startsWith('[') ? `[${req.hostname}]` : req.hostname;
    return reply.redirect(`${https ? 'https' : 'http'}://${host}:${registryPort() ?? ''}${CONSOLE_PATH}`, 307);
  };
  app.get('/ui', redirect);
  app.get('/ui/*', redirect);
}
