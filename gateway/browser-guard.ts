/**
 * The registry's REST routes and the console against other web pages in the operator's
 * browser. A browser on the server's machine is a local client, which the registry admits
 * without a token when none are configured, and it sends what any page tells it to. So, on
 * the registry's paths:
 * - a request made by another site's page is refused: `Sec-Fetch-Site` cross-site or same-site
 *   (another port of the same host), or an `Origin` naming another origin. A form post or a
 *   no-cors fetch cannot promote a version.
 * - without tokens (and without insecureRegistry), a local client's Host header must name a
 *   loopback host or the address the listener is bound to, so a DNS name rebound to 127.0.0.1
 *   reads nothing through the browser.
 * Clients that are not browsers (curl, the SDKs, the CLI) send neither header and a loopback
 * or bound Host, and are unaffected. fastify has no plugin for these two checks.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

import { type AccessPolicy, isLocalPeer, isLoopbackHost } from '../src/auth/policy.js';
import { permissionDenied } from '../src/core/errors.js';
import { sendError } from './error-handlers.js';

/** The host name of a Host header (without the port; an IPv6 literal keeps no brackets). */
function hostName(host: string): string {
  const bracket = /^\[([^\]]*)\](?::\d+)?$/.exec(host);
  if (bracket !== null) return bracket[1] as string;
  return host.replace(/:\d+$/, '').toLowerCase();
}

/** Why a request must be refused, or undefined. */
export function crossSiteProblem(req: FastifyRequest, https: boolean, boundHost: string, access: AccessPolicy): string | undefined {
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site')
    return `the registry refuses requests made by another site's page (Sec-Fetch-Site: ${site})`;
  const host = req.headers.host ?? '';
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== 'null' && origin !== `${https ? 'https' : 'http'}://${host}`)
    return `the registry refuses requests made by another origin's page (Origin ${origin})`;
  if (origin === 'null') return "the registry refuses requests made by an opaque origin's page (Origin null)";
  // A rebound name reaches the server through the local browser: a local peer. Others meet the locality rule (policy.ts).
  if (access.tokens.size === 0 && !access.insecureRegistry && isLocalPeer(req.socket.remoteAddress)) {
    const name = hostName(host);
    if (!isLoopbackHost(name) && name !== boundHost.toLowerCase())
      return `without API tokens the registry answers only requests addressed to a loopback host, not '${name}' (set authTokens to serve other host names)`;
  }
  return undefined;
}

/** Installs the check on `app` for the paths `guarded` names. */
export function guardFromOtherSites(
  app: FastifyInstance,
  guarded: (path: string) => boolean,
  options: { readonly https: boolean; readonly boundHost: string; readonly access: AccessPolicy; readonly log: Logger },
): void {
  app.addHook('onRequest', (req, reply, done) => {
    if (!guarded(req.url.split('?')[0] ?? '')) return done();
    const problem = crossSiteProblem(req, options.https, options.boundHost, options.access);
    if (problem === undefined) return done();
    sendError(reply, permissionDenied(problem), options.log);
  });
}
