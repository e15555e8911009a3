/**
 * The gateway's error answers on fastify: a thrown error sent as status.ts maps it, and the
 * handlers fastify calls for its own refusals (a body over the limit, a malformed request) and
 * for a path no route serves.
 */
import * as grpc from '@grpc/grpc-js';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from 'pino';

import { notFound, tooLarge } from '../src/core/errors.js';
import { errorAnswer, errorBody } from './status.js';

/** Any thrown value as the gateway's error answer (status, retry-after, body). */
export function sendError(reply: FastifyReply, err: unknown, log: Logger): FastifyReply {
  const answer = errorAnswer(err, reply.request.id, log);
  return reply.code(answer.status).headers(answer.headers).send(answer.body);
}

/**
 * fastify's error and not-found handlers: a body over `bodyLimit` is 413, fastify's other
 * 4xx refusals keep their status with INVALID_ARGUMENT, and an unknown path is 404 with the
 * message `noRoute` gives.
 */
export function installErrorHandlers(
  app: FastifyInstance,
  bodyLimit: number,
  noRoute: (method: string, path: string) => string,
  log: Logger,
): void {
  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, req, reply) => {
    if (err.statusCode === 413) return sendError(reply, tooLarge(`request body over the limit of ${bodyLimit} bytes`), log);
    // fastify's own refusals (a malformed request): its status, the request's fault.
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.code(err.statusCode).send(errorBody(grpc.status.INVALID_ARGUMENT, err.message, req.id));
    }
    return sendError(reply, err, log);
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, notFound(noRoute(req.method, req.url.split('?')[0] ?? '')), log));
}
