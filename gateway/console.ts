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
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { PREDICTION_SERVICE } from '../src/auth/policy.js';
import { failedPrecondition, notFound } from '../src/core/errors.js';
import { PACKAGE_ROOT } from '../src/paths.js';
import type { RpcDescriptor } from './descriptors.js';
import { isRegistryPath } from './registry.js';

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

const isConsolePath = (path: string): boolean => path === '/ui' || path.startsWith(CONSOLE_PATH);

/** The paths the registry plane's rules cover on a listener that serves them: its routes, the console, /reload-model. */
export const isRegistryOrConsolePath = (path: string): boolean => isRegistryPath(path) || isConsolePath(path) || path === '/reload-model';

/** A host name fit for a Location header: a DNS name or an IPv4 address, or an IPv6 literal in brackets. */
const PLAIN_HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])$/;

/**
 * On httpPort when the console is on the registry plane's port: /ui/ redirects there, to the
 * host name the browser used (the registry's own address when that name is not a plain one).
 */
export function redirectToConsole(
  app: FastifyInstance,
  registryPort: () => number | undefined,
  options: { readonly https: boolean; readonly host: string },
): void {
  const redirect = (req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const given = (req.headers.host ?? '').replace(/:\d+$/, '');
    const host = PLAIN_HOST.test(given) ? given : options.host.includes(':') ? `[${options.host}]` : options.host;
    return reply.redirect(`${options.https ? 'https' : 'http'}://${host}:${registryPort() ?? ''}${CONSOLE_PATH}`, 307);
  };
  app.get('/ui', redirect);
  app.get('/ui/*', redirect);
}

/** A server without a registry (it serves model files) has no console: /ui/ says so. */
export function noConsole(app: FastifyInstance): void {
  const none = (): never => {
    throw notFound('this server has no registry (it serves model files), so it has no console: start it with the registry to use /ui/');
  };
  app.get('/ui', none);
  app.get('/ui/*', none);
}
