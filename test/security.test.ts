/**
 * The management plane apart from inference: the RegistryService on its own port (loopback by
 * default), bearer tokens with scopes (hashed, compared in constant time), the same rules on
 * the REST gateway, and TLS / mTLS on gRPC and REST with certificates made here by openssl.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { networkInterfaces } from 'node:os';
import { promisify } from 'node:util';
import { join } from 'node:path';

import * as grpc from '@grpc/grpc-js';
import test from 'ava';

import { AccessPolicy, isLocalPeer } from '../src/auth/policy.js';
import { TokenSet } from '../src/auth/tokens.js';
import { resolveOptions } from '../src/config/options.js';
import { QuiverError } from '../src/core/errors.js';
import { PredictionServiceClient } from '../src/gen/quiver/v1/prediction.js';
import { RegistryServiceClient } from '../src/gen/quiver/v1/registry.js';
import { checkHealth } from '../src/grpc/health-client.js';
import { createLogger } from '../src/log/logger.js';
import { QuiverServer } from '../src/server.js';
import { BLUEPRINT_ROW, blueprintFeatures, demoModel, tmp } from './helpers/fixtures.js';
import { ROOT } from './helpers/process.js';
import { Registry } from './helpers/registry.js';
import { grpcError, reflectionServices, request, type Running, startServer } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

const TOKENS = {
  reader: 'reader-token-0123456789',
  writer: 'writer-token-0123456789',
  promoter: 'promoter-token-0123456789',
  client: 'client-token-0123456789',
};
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
/** Inline entries and a tokens file (the promoter given only as a hash, as a Secret would). */
function tokenOptions(): { authTokens: string; authTokensFile: string } {
  const file = join(tmp('quiver-tokens-'), 'tokens');
  writeFileSync(
    file,
    [
      '# name scopes token',
      `writer registry:read,registry:write ${TOKENS.writer}`,
      `promoter registry:read,registry:promote sha256:${sha256(TOKENS.promoter)}`,
    ].join('\n'),
  );
  return { authTokens: `reader registry:read ${TOKENS.reader}; client infer ${TOKENS.client}`, authTokensFile: file };
}

const bearer = (token: string): grpc.Metadata => {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
};

/** A unary RegistryService call with metadata; resolves the response or the ServiceError. */
function registryCall<T>(
  address: string,
  method: string,
  req: object,
  md: grpc.Metadata,
  creds = grpc.credentials.createInsecure(),
): Promise<T> {
  const client = new RegistryServiceClient(address, creds) as unknown as Record<
    string,
    (r: object, m: grpc.Metadata, cb: (e: grpc.ServiceError | null, r: T) => void) => void
  > & { close(): void };
  return new Promise<T>((resolve, reject) =>
    client[method]!.call(client, req, md, (e: grpc.ServiceError | null, r: T) => (e ? reject(e) : resolve(r))),
  ).finally(() => client.close());
}

const listModels = { pageSize: 0, pageToken: '' };

test('the registry has its own port: RegistryService is not on the inference port, and inference is not on the registry port', async (t) => {
  const srv = await startServer();
  try {
    t.not(srv.registryAddress, srv.address);
    const onInference = await grpcError(registryCall(srv.address, 'listRegisteredModels', listModels, new grpc.Metadata()));
    t.is(onInference.code, grpc.status.UNIMPLEMENTED);
    const client = new PredictionServiceClient(srv.registryAddress, grpc.credentials.createInsecure());
    const onRegistry = await grpcError(
      new Promise((resolve, reject) =>
        client.predict(request({ features: blueprintFeatures(BLUEPRINT_ROW) }), (e, r) => (e ? reject(e) : resolve(r))),
      ),
    );
    client.close();
    t.is(onRegistry.code, grpc.status.UNIMPLEMENTED);
    // Each plane answers health for its own services.
    t.is(await checkHealth(srv.registryAddress, 'quiver.v1.RegistryService', 10_000), 'SERVING');
    t.is(await checkHealth(srv.address, 'quiver.v1.PredictionService', 10_000), 'SERVING');
    // Without tokens, local clients use the registry as before.
    t.deepEqual(
      (await registryCall<{ models: unknown[] }>(srv.registryAddress, 'listRegisteredModels', listModels, new grpc.Metadata())).models,
      [],
    );
  } finally {
    await srv.close();
  }
});

test('the registry binds 127.0.0.1 by default, and the server refuses a non-loopback registry address without tokens', async (t) => {
  t.is(resolveOptions({ env: {} }).registryHost, '127.0.0.1');
  const err = await t.throwsAsync(startServer({ registryHost: '0.0.0.0' }));
  t.regex(err.message, /refusing to serve the registry on 0\.0\.0\.0 without authentication: set authTokens or authTokensFile/);
  // With tokens it starts; so it does with the explicit insecure flag.
  for (const flags of [
    { registryHost: '0.0.0.0', ...tokenOptions() },
    { registryHost: '0.0.0.0', insecureRegistry: true },
  ]) {
    const srv = await startServer(flags);
    t.true(srv.server.registryPort! > 0);
    await srv.close();
  }
  const noTokens = await t.throwsAsync(startServer({ authInference: true }));
  t.regex(noTokens.message, /authInference needs API tokens/);
  // A tokens file without a single entry is found out at start, once it is read.
  const commentsOnly = join(tmp('quiver-tokens-'), 'tokens');
  writeFileSync(commentsOnly, '# no tokens yet\n');
  const emptyFile = await t.throwsAsync(startServer({ authInference: true, authTokensFile: commentsOnly }));
  t.regex(emptyFile.message, /authInference needs API tokens/);
  const emptyRegistry = await t.throwsAsync(startServer({ registryHost: '0.0.0.0', authTokensFile: commentsOnly }));
  t.regex(emptyRegistry.message, /refusing to serve the registry on 0\.0\.0\.0 without authentication/);
});

test('registry tokens: none or unknown is UNAUTHENTICATED, a missing scope PERMISSION_DENIED, and the token names the audit actor', async (t) => {
  const srv = await startServer(tokenOptions());
  const addr = srv.registryAddress;
  try {
    const none = await grpcError(registryCall(addr, 'listRegisteredModels', listModels, new grpc.Metadata()));
    t.is(none.code, grpc.status.UNAUTHENTICATED);
    t.regex(none.details, /ListRegisteredModels needs an API token: send the header 'authorization: Bearer <token>'/);
    const wrong = await grpcError(registryCall(addr, 'listRegisteredModels', listModels, bearer('not-a-real-token-at-all')));
    t.is(wrong.code, grpc.status.UNAUTHENTICATED);
    t.regex(wrong.details, /the API token is not valid/);
    const basic = new grpc.Metadata();
    basic.set('authorization', 'Basic dXNlcjpwYXNz');
    t.regex((await grpcError(registryCall(addr, 'listRegisteredModels', listModels, basic))).details, /must be 'Bearer <token>'/);
    // An inference token cannot read the registry.
    const client = await grpcError(registryCall(addr, 'listRegisteredModels', listModels, bearer(TOKENS.client)));
    t.is(client.code, grpc.status.PERMISSION_DENIED);
    t.regex(client.details, /needs the registry:read scope, which token 'client' does not have/);
    t.deepEqual((await registryCall<{ models: unknown[] }>(addr, 'listRegisteredModels', listModels, bearer(TOKENS.reader))).models, []);

    // Upload (a client stream) needs registry:write.
    const reg = new Registry(addr);
    const uploadAs = (token: string): Promise<unknown> => {
      const md = bearer(token);
      md.set('quiver-actor', 'someone-else');
      return reg.uploadWith({ modelName: 'secured' }, demoModel(), md);
    };
    const readerUpload = await grpcError(uploadAs(TOKENS.reader));
    t.is(readerUpload.code, grpc.status.PERMISSION_DENIED);
    t.regex(readerUpload.details, /CreateVersion needs the registry:write scope/);
    await uploadAs(TOKENS.writer);
    // Promotion needs registry:promote: the writer cannot, the promoter (hash-only entry) can.
    const transition = { modelName: 'secured', version: 1, stage: 3, archiveExisting: false, comment: '' };
    const writerPromote = await grpcError(registryCall(addr, 'transitionStage', transition, bearer(TOKENS.writer)));
    t.is(writerPromote.code, grpc.status.PERMISSION_DENIED);
    t.regex(writerPromote.details, /TransitionStage needs the registry:promote scope, which token 'writer' does not have/);
    await registryCall(addr, 'transitionStage', transition, bearer(TOKENS.promoter));
    // The audit trail names the tokens, not what the client claimed.
    const audit = await registryCall<{ entries: Array<{ action: string; actor: string }> }>(
      addr,
      'getAuditLog',
      { modelName: 'secured', pageSize: 0, pageToken: '' },
      bearer(TOKENS.reader),
    );
    t.deepEqual(
      audit.entries.map((e) => [e.action, e.actor]),
      [
        ['create_model', 'writer'],
        ['create_version', 'writer'],
        ['transition_stage', 'promoter'],
      ],
    );
    reg.close();
    // Inference stays open (authInference is off), and serves the promoted version once it has loaded it.
    const served = (): Promise<string> =>
      srv.client
        .predict({ modelName: 'secured', features: blueprintFeatures(BLUEPRINT_ROW) })
        .then((r) => r.modelVersion)
        .catch(() => '');
    await eventually(async () => (await served()) === '1', "the promoted model 'secured' served");
    t.is(await served(), '1');
  } finally {
    await srv.close();
  }
});

test('authInference: inference needs a token with the infer scope; health and reflection stay open', async (t) => {
  const srv = await startServer({ ...tokenOptions(), authInference: true, demo: true });
  try {
    const client = new PredictionServiceClient(srv.address, grpc.credentials.createInsecure());
    const predict = (md: grpc.Metadata): Promise<{ modelVersion: string }> =>
      new Promise((resolve, reject) =>
        client.predict(request({ features: blueprintFeatures(BLUEPRINT_ROW) }), md, (e, r) => (e ? reject(e) : resolve(r))),
      );
    t.is((await grpcError(predict(new grpc.Metadata()))).code, grpc.status.UNAUTHENTICATED);
    const reader = await grpcError(predict(bearer(TOKENS.reader)));
    t.is(reader.code, grpc.status.PERMISSION_DENIED);
    t.regex(reader.details, /needs the infer scope/);
    t.is((await predict(bearer(TOKENS.client))).modelVersion, '1');
    client.close();
    t.is(await checkHealth(srv.address, '', 10_000), 'SERVING');
    t.true((await reflectionServices(srv.address)).includes('quiver.v1.PredictionService'));
    // REST: /predict needs the token, /health and /metrics do not.
    const body = JSON.stringify({ features: Object.fromEntries(blueprintFeatures(BLUEPRINT_ROW)) });
    const anon = await fetch(`${srv.http}/predict`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    t.is(anon.status, 401);
    t.regex(((await anon.json()) as { message: string }).message, /POST \/predict needs an API token/);
    const ok = await fetch(`${srv.http}/predict`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKENS.client}` },
    });
    t.is(ok.status, 200);
    t.is((await fetch(`${srv.http}/health`)).status, 200);
    t.is((await fetch(`${srv.http}/metrics`)).status, 200);
    t.is((await fetch(`${srv.http}/v2/health/ready`)).status, 200);
    t.is((await fetch(`${srv.http}/v2/models/production-model`)).status, 401);
  } finally {
    await srv.close();
  }
});

test('REST: registry routes follow the same scopes, /reload-model needs registry:promote', async (t) => {
  const srv = await startServer(tokenOptions());
  try {
    const get = (path: string, token?: string): Promise<Response> =>
      fetch(`${srv.registryHttp}${path}`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
    t.is((await get('/v1/registry/models')).status, 401);
    t.is((await get('/v1/registry/models', TOKENS.client)).status, 403);
    t.is((await get('/v1/registry/models', TOKENS.reader)).status, 200);
    const onnx = Buffer.from(demoModel()).toString('base64');
    const upload = (token: string): Promise<Response> =>
      fetch(`${srv.registryHttp}/v1/registry/versions:upload`, {
        method: 'POST',
        body: `{"metadata": {"modelName": "rest-secured"}}\n{"chunk": "${onnx}"}\n`,
        headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${token}` },
      });
    t.is((await upload(TOKENS.reader)).status, 403);
    const up = await upload(TOKENS.writer);
    t.is(up.status, 200, await up.clone().text());
    t.is(((await up.json()) as { version: { createdBy: string } }).version.createdBy, 'writer');
    const reload = (token?: string): Promise<Response> =>
      fetch(`${srv.http}/reload-model`, {
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
      });
    t.is((await reload()).status, 401);
    const denied = await reload(TOKENS.writer);
    t.is(denied.status, 403);
    t.regex(((await denied.json()) as { message: string }).message, /POST \/reload-model needs the registry:promote scope/);
    t.is((await reload(TOKENS.promoter)).status, 200);
  } finally {
    await srv.close();
  }
});

/** This machine's own non-loopback address: a connection to it does not come from loopback. */
function externalAddress(): string {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (!a.internal && a.family === 'IPv4') return a.address;
  throw new Error('this test needs a non-loopback IPv4 interface to connect from a non-local address');
}

test('without tokens, registry REST routes answer only local clients; inference routes answer everyone', async (t) => {
  const ip = externalAddress();
  // The single-port layout (registryRestOnHttpPort): the registry routes on httpPort, for everyone to reach.
  const srv = await startServer({ httpHost: '0.0.0.0', demo: true, registryRestOnHttpPort: true });
  try {
    const port = new URL(srv.http).port;
    const remote = await fetch(`http://${ip}:${port}/v1/registry/models`);
    t.is(remote.status, 403);
    t.regex(
      ((await remote.json()) as { message: string }).message,
      /the registry accepts only local clients when no API tokens are configured/,
    );
    t.is((await fetch(`http://${ip}:${port}/reload-model`, { method: 'POST', body: '{}' })).status, 403);
    t.is((await fetch(`http://127.0.0.1:${port}/v1/registry/models`)).status, 200);
    const body = JSON.stringify({ features: Object.fromEntries(blueprintFeatures(BLUEPRINT_ROW)) });
    t.is(
      (await fetch(`http://${ip}:${port}/predict`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })).status,
      200,
    );
    // /model-info from afar: the model's metadata, without the registry's part.
    const info = (await (await fetch(`http://${ip}:${port}/model-info`)).json()) as Record<string, unknown>;
    t.is(info.model_name, 'production-model');
    t.false('lineage' in info);
  } finally {
    await srv.close();
  }
});

test('tokens: parsing errors name the entry and never echo the secret; hashes are what is compared', (t) => {
  const cases: Array<[string, RegExp]> = [
    ['ci registry:read', /entry 1: expected 'name scopes token', got 2 field/],
    ['ci registry:admin 0123456789abcdef0', /unknown scope 'registry:admin'/],
    ['ci infer short', /shorter than 16 characters/],
    ['bad/name infer 0123456789abcdef0', /token name 'bad\/name' must match/],
    ['a infer 0123456789abcdef0; b infer 0123456789abcdef0', /the token for 'b' is the same as another entry's/],
    ['a infer 0123456789abcdef0; a infer 0123456789abcdef1', /token name 'a' is given twice/],
  ];
  for (const [text, message] of cases) {
    const err = t.throws(() => TokenSet.parse(text, 'option authTokens'), { instanceOf: QuiverError });
    t.regex(err.message, message);
    t.false(err.message.includes('0123456789abcdef'), 'no secret in the message');
  }
  const set = TokenSet.parse(`a infer,registry:read 0123456789abcdef0\nb registry:promote sha256:${sha256('b-token-0123456789')}`, 'x');
  t.is(set.authenticate('0123456789abcdef0')?.name, 'a');
  t.is(set.authenticate('b-token-0123456789')?.name, 'b');
  t.is(set.authenticate(`sha256:${sha256('b-token-0123456789')}`), undefined, 'the hash itself is not a token');
  t.is(set.authenticate('0123456789abcdef'), undefined);
  const policy = new AccessPolicy(set, false, false);
  t.is(policy.authorize('registry:read', 'bearer 0123456789abcdef0', false, 'X')?.name, 'a', 'the scheme is case-insensitive');
  for (const [peer, local] of [
    ['127.0.0.1:5000', true],
    ['[::1]:5000', true],
    ['::ffff:127.0.0.1', true],
    ['::1', true],
    ['127.1.2.3', true],
    ['unix:/tmp/x.sock', true],
    ['192.0.2.2:5000', false],
    ['[fd00::2]:5000', false],
    ['unknown', false],
    ['gateway', false],
  ] as const)
    t.is(isLocalPeer(peer), local, peer);
});

/** A CA, a server certificate for 127.0.0.1/localhost, a client certificate, and a rogue CA's client certificate. */
function makeCertificates(): Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey' | 'rogueCert' | 'rogueKey', string> {
  const dir = tmp('quiver-pki-');
  const f = (name: string): string => join(dir, name);
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'pipe' });
  const ca = (name: string): void =>
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.crt`),
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
    );
  ca('ca');
  ca('rogue-ca');
  const leaf = (name: string, signer: string, ext: string): void => {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${name}`);
    writeFileSync(f(`${name}.ext`), ext);
    openssl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f(`${signer}.crt`),
      '-CAkey',
      f(`${signer}.key`),
      '-CAcreateserial',
      '-out',
      f(`${name}.crt`),
      '-days',
      '2',
      '-extfile',
      f(`${name}.ext`),
    );
  };
  leaf('server', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'ca', 'extendedKeyUsage=clientAuth\n');
  leaf('rogue', 'rogue-ca', 'extendedKeyUsage=clientAuth\n');
  return {
    ca: f('ca.crt'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
    rogueCert: f('rogue.crt'),
    rogueKey: f('rogue.key'),
  };
}

const read = (path: string): Buffer => execFileSync('cat', [path]);

/** An HTTPS request with a CA and optionally a client certificate. */
function https(
  url: string,
  o: { ca: string; cert?: string; key?: string; method?: string; body?: string; headers?: Record<string, string> },
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method: o.method ?? 'GET',
        ca: read(o.ca),
        ...(o.cert === undefined ? {} : { cert: read(o.cert), key: read(o.key!) }),
        headers: o.headers ?? {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

async function predictOver(address: string, creds: grpc.ChannelCredentials): Promise<string> {
  const client = new PredictionServiceClient(address, creds);
  try {
    return await new Promise((resolve, reject) =>
      client.predict(
        request({ features: blueprintFeatures(BLUEPRINT_ROW) }),
        new grpc.Metadata(),
        { deadline: Date.now() + 10_000 },
        (e, r) => (e ? reject(e) : resolve(r.modelVersion)),
      ),
    );
  } finally {
    client.close();
  }
}

test('TLS: gRPC (both planes) and REST over TLS; plaintext clients are refused; streaming REST routes work; quiver health --tls', async (t) => {
  const pki = makeCertificates();
  const srv: Running = await startServer({ demo: true, tlsCert: pki.serverCert, tlsKey: pki.serverKey });
  try {
    const tls = grpc.credentials.createSsl(read(pki.ca));
    t.is(await predictOver(srv.address, tls), '1');
    t.is((await grpcError(predictOver(srv.address, grpc.credentials.createInsecure()))).code, grpc.status.UNAVAILABLE);
    const models = await registryCall<{ models: Array<{ name: string }> }>(
      srv.registryAddress,
      'listRegisteredModels',
      listModels,
      new grpc.Metadata(),
      tls,
    );
    t.deepEqual(
      models.models.map((m) => m.name),
      ['production-model'],
    );
    const url = srv.http.replace('http://', 'https://');
    t.is((await https(`${url}/health`, { ca: pki.ca })).status, 200);
    // A streaming RPC through the gateway (the upload) reaches the registry plane under TLS.
    const onnx = Buffer.from(demoModel()).toString('base64');
    const upload = await https(`${srv.registryHttp.replace('http://', 'https://')}/v1/registry/versions:upload`, {
      ca: pki.ca,
      method: 'POST',
      body: `{"metadata": {"modelName": "over-tls"}}\n{"chunk": "${onnx}"}\n`,
      headers: { 'content-type': 'application/x-ndjson' },
    });
    t.is(upload.status, 200, upload.text);
    await t.throwsAsync(fetch(`${srv.http}/health`), undefined, 'plain HTTP to the TLS port fails');
    await t.throwsAsync(fetch(`${srv.registryHttp}/v1/registry/models`), undefined, 'plain HTTP to the registry REST port fails');
    // (async: the server runs in this process, a blocking exec would starve it)
    const health = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'src/cli/bin.ts', 'health', '--tls', '--address', srv.address],
      {
        cwd: ROOT,
        env: { ...process.env, QUIVER_TLS_CERT: '' },
      },
    );
    t.is(health.stdout.trim(), 'SERVING');
    // An IP address target gets a TLS server name, so Node does not warn on every probe (DEP0123).
    t.notRegex(health.stderr, /DEP0123|Warning/);
  } finally {
    await srv.close();
  }
});

test('mTLS: a client certificate from the CA is required on gRPC and REST; none, or one from another CA, is refused', async (t) => {
  const pki = makeCertificates();
  const srv = await startServer({
    demo: true,
    tlsCert: pki.serverCert,
    tlsKey: pki.serverKey,
    tlsClientCa: pki.ca,
    tlsClientAuth: true,
  });
  try {
    const withCert = grpc.credentials.createSsl(read(pki.ca), read(pki.clientKey), read(pki.clientCert));
    t.is(await predictOver(srv.address, withCert), '1');
    t.is((await grpcError(predictOver(srv.address, grpc.credentials.createSsl(read(pki.ca))))).code, grpc.status.UNAVAILABLE);
    const rogue = grpc.credentials.createSsl(read(pki.ca), read(pki.rogueKey), read(pki.rogueCert));
    t.is((await grpcError(predictOver(srv.address, rogue))).code, grpc.status.UNAVAILABLE);
    const url = srv.http.replace('http://', 'https://');
    t.is((await https(`${url}/health`, { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey })).status, 200);
    await t.throwsAsync(https(`${url}/health`, { ca: pki.ca }));
    await t.throwsAsync(https(`${url}/health`, { ca: pki.ca, cert: pki.rogueCert, key: pki.rogueKey }));
    // The registry plane's REST port asks for the same client certificates.
    const registryUrl = `${srv.registryHttp.replace('http://', 'https://')}/v1/registry/models`;
    t.is((await https(registryUrl, { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey })).status, 200);
    await t.throwsAsync(https(registryUrl, { ca: pki.ca }));
  } finally {
    await srv.close();
  }
  // Half a TLS configuration is refused before anything starts.
  t.throws(() => resolveOptions({ env: {}, flags: { tlsCert: pki.serverCert } }), { message: /tlsCert and tlsKey go together/ });
  t.throws(() => resolveOptions({ env: {}, flags: { tlsClientAuth: true, tlsCert: pki.serverCert, tlsKey: pki.serverKey } }), {
    message: /tlsClientAuth needs tlsClientCa/,
  });
  const missing = await t.throwsAsync(
    QuiverServer.start(
      resolveOptions({
        env: {},
        flags: {
          grpcPort: 0,
          registryPort: 0,
          httpPort: 0,
          registryHttpPort: 0,
          metricsPort: 0,
          tlsCert: '/nonexistent.pem',
          tlsKey: pki.serverKey,
          dataDir: tmp(),
        },
      }),
      createLogger('silent'),
    ),
  );
  t.regex(missing.message, /option tlsCert: cannot read \/nonexistent\.pem/);
});
