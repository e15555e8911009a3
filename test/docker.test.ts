/**
 * The Dockerfile and docker-compose.yml, checked structurally: no Docker engine runs where the
 * tests run. The Dockerfile is parsed into stages and instructions; the compose file and the
 * Prometheus and Grafana files it mounts are parsed as YAML and cross-checked with each other,
 * with the repository's files and with the server's option defaults.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';

import test from 'ava';
import { parse } from 'yaml';

import { OPTION_DEFS } from '../src/config/options.js';
import { ROOT } from './helpers/process.js';

// ---------------------------------------------------------------------------------------
// The Dockerfile

interface Instruction {
  readonly op: string;
  readonly args: string;
  readonly line: number;
}

interface Stage {
  readonly image: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

/** Instructions with continuation lines joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) return;
    if (pending !== '' && line.startsWith('#')) return; // comments inside a continued instruction
    if (pending === '') start = i + 1;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      return;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^(\S+)\s*(.*)$/s.exec(full)!;
    out.push({ op: m[1]!.toUpperCase(), args: m[2]!.replace(/\s+/g, ' ').trim(), line: start });
  });
  return out;
}

function stages(list: Instruction[]): Stage[] {
  const out: Stage[] = [];
  for (const ins of list) {
    if (ins.op === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (m === null) throw new Error(`line ${ins.line}: cannot read FROM ${ins.args}`);
      out.push({ image: m[1]!, name: m[2]?.toLowerCase(), instructions: [] });
    } else {
      if (out.length === 0) throw new Error(`line ${ins.line}: ${ins.op} before FROM`);
      out[out.length - 1]!.instructions.push(ins);
    }
  }
  return out;
}

/** An exec-form (JSON array) argument, or undefined for the shell form. */
function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  return JSON.parse(args) as string[];
}

interface Copy {
  readonly from: string | undefined;
  readonly sources: string[];
  readonly dest: string;
}

function copies(stage: Stage): Copy[] {
  return stage.instructions
    .filter((i) => i.op === 'COPY' || i.op === 'ADD')
    .map((i) => {
      const words = execForm(i.args) ?? i.args.split(' ');
      const flags = words.filter((w) => w.startsWith('--'));
      const paths = words.filter((w) => !w.startsWith('--'));
      const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
      return { from, sources: paths.slice(0, -1), dest: paths[paths.length - 1]! };
    });
}

const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const all = instructions(dockerfile);
const built = stages(all);
const build = built[0]!;
const final = built[built.length - 1]!;
const runs = (stage: Stage): string =>
  stage.instructions
    .filter((i) => i.op === 'RUN')
    .map((i) => i.args)
    .join('\n');
const envOf = (stage: Stage): Record<string, string> =>
  Object.fromEntries(
    stage.instructions
      .filter((i) => i.op === 'ENV')
      .flatMap((i) => [...i.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)].map((m) => [m[1]!, m[2]!.replace(/^"|"$/g, '')])),
  );

const optionDefault = (key: string): unknown => OPTION_DEFS.find((d) => (d.key as string) === key)?.default({});

/** .dockerignore as Docker reads it: patterns from the context root, `**`, `!` re-includes, the last match wins. */
function dockerignore(): (path: string) => boolean {
  const rules = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, '')).replace(/\/+$/, '');
      const source = pattern
        .split('/')
        .map((part) =>
          part === '**'
            ? '.*'
            : part
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/')
        .replace(/\.\*\//g, '(?:.*/)?');
      return { negate, re: new RegExp(`^${source}$`) };
    });
  return (path: string) => {
    // A path is excluded when it or one of its parent folders matches.
    const parts = path.split('/');
    let excluded = false;
    for (const rule of rules) {
      for (let n = 1; n <= parts.length; n++) {
        if (rule.re.test(parts.slice(0, n).join('/'))) {
          excluded = !rule.negate;
          break;
        }
      }
    }
    return excluded;
  };
}

test('Dockerfile: a build stage and a final stage, both on a Node 20 image pinned by digest', (t) => {
  t.true(built.length >= 2);
  t.is(build.name, 'build');
  for (const s of built) {
    // The tag says what it is, the digest fixes which build of it: a moved tag changes nothing.
    t.regex(s.image, /^node:20[.\w-]*@sha256:[0-9a-f]{64}$/, `FROM ${s.image}`);
    t.notRegex(s.image, /:latest\b/);
  }
  // The same base for both stages: the native addons built in one run in the other.
  t.is(new Set(built.map((s) => s.image)).size, 1);
  t.not(final.name, 'build');
});

test('Dockerfile: node_modules keeps onnxruntime-node binaries for linux on the build architecture only', (t) => {
  const r = runs(build);
  const prune = r.indexOf('npm prune --omit=dev');
  const ort = 'node_modules/onnxruntime-node/bin/napi-v*';
  t.true(prune >= 0);
  // After the prune (which would not bring them back), in the build stage.
  t.true(r.indexOf(`rm -rf ${ort}/darwin ${ort}/win32`) > prune, 'darwin and win32 binaries removed');
  // Other Linux architectures (arm64 on x64, x64 on arm64): everything under linux/ but this one.
  t.regex(r, /arch="\$\(node -p process\.arch\)"/);
  t.true(r.includes(`find ${ort}/linux -mindepth 1 -maxdepth 1 ! -name "$arch" -exec rm -rf {} +`));
  // And what is left still loads.
  t.regex(r, /node -e "require\('onnxruntime-node'\)"/);
  // The package layout this relies on: bin/napi-v*/<platform>/<arch>/onnxruntime_binding.node.
  const bin = join(ROOT, 'node_modules', 'onnxruntime-node', 'bin');
  const napi = readdirSync(bin).filter((d) => /^napi-v\d+$/.test(d));
  t.true(napi.length > 0);
  for (const v of napi) {
    t.deepEqual(readdirSync(join(bin, v)).sort(), ['darwin', 'linux', 'win32']);
    t.true(existsSync(join(bin, v, 'linux', 'x64', 'onnxruntime_binding.node')));
  }
});

test('production dependencies: OpenTelemetry is the trace SDK and the OTLP/HTTP exporters Quiver uses, not the all-in-one sdk-node', (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; optional?: boolean }>;
  };
  t.false('@opentelemetry/sdk-node' in pkg.dependencies);
  // Every @opentelemetry dependency is imported by the server's code.
  const sources = execFileSync('git', ['ls-files', '--', 'src', 'gateway'], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter((f) => f.endsWith('.ts') && existsSync(join(ROOT, f)))
    .map((f) => readFileSync(join(ROOT, f), 'utf8'))
    .join('\n');
  for (const name of Object.keys(pkg.dependencies).filter((n) => n.startsWith('@opentelemetry/')))
    t.true(sources.includes(`from '${name}'`), `${name} is imported`);
  // What production installs: no gRPC, Zipkin or Prometheus exporter, no metrics or logs exporter.
  const production = Object.entries(lock.packages)
    .filter(([path, p]) => path.startsWith('node_modules/') && p.dev !== true)
    .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
  const exporters = [...new Set(production.filter((n) => /^@opentelemetry\/exporter-/.test(n)))].sort();
  t.deepEqual(exporters, ['@opentelemetry/exporter-trace-otlp-http', '@opentelemetry/exporter-trace-otlp-proto']);
  for (const gone of ['@opentelemetry/sdk-node', '@opentelemetry/otlp-grpc-exporter-base', '@opentelemetry/instrumentation'])
    t.false(production.includes(gone), gone);
});

test('Dockerfile: the build stage compiles (npm ci with the native toolchain) and prunes dev dependencies', (t) => {
  const r = runs(build);
  t.regex(r, /apt-get install[^\n]*\bpython3\b/);
  t.regex(r, /apt-get install[^\n]*\bmake\b/);
  t.regex(r, /apt-get install[^\n]*\bg\+\+/);
  t.regex(r, /\bnpm ci\b/);
  t.regex(r, /\bnpm prune --omit=dev\b/);
  t.true(r.indexOf('npm ci') < r.indexOf('npm prune'));
  // No CUDA downloads by onnxruntime-node's install script for a CPU image.
  t.is(envOf(build).ONNXRUNTIME_NODE_INSTALL, 'skip');

  // Everything the compiler needs is copied in: package files, tsconfig and what it includes, proto, bin.
  const sources = new Set(copies(build).flatMap((c) => (c.from === undefined ? c.sources : [])));
  const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] };
  const roots = tsconfig.include.map((p) => p.split('/')[0]!);
  for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'proto', 'bin', ...roots]) {
    t.true(sources.has(needed), `the build stage copies ${needed}`);
  }
  // Every source exists, and .dockerignore keeps none of its tracked files out of the context.
  const ignored = dockerignore();
  for (const source of sources) {
    t.true(existsSync(join(ROOT, source)), `${source} exists`);
    const tracked = execFileSync('git', ['ls-files', '--', source], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
    t.true(tracked.length > 0, `${source} is in the repository`);
    const left = tracked.filter(ignored);
    t.deepEqual(left, [], `.dockerignore excludes files the build copies from ${source}`);
  }
  // Build outputs and local state stay out of the context.
  for (const path of ['node_modules', 'dist', 'src/gen', 'var', '.git', 'scratch', '.env', '.npmrc']) {
    t.true(ignored(path), `.dockerignore excludes ${path}`);
  }
});

test('Dockerfile: the final stage copies the built server and production node_modules from the build stage', (t) => {
  const fromBuild = copies(final).filter((c) => c.from === 'build');
  const copied = new Map(fromBuild.flatMap((c) => c.sources.map((s): [string, string] => [posix.normalize(s), c.dest])));
  // node_modules with the native addons compiled there; dist and bin (bin/quiver.js imports
  // dist/src/cli/bin.js); package.json next to proto/ (how the server finds its package root).
  for (const path of ['/app/node_modules', '/app/dist', '/app/bin', '/app/proto', '/app/package.json']) {
    t.true(copied.has(path), `COPY --from=build ${path}`);
    t.is(posix.normalize(copied.get(path)!).replace(/^\.\//, ''), posix.basename(path));
  }
  t.regex(readFileSync(join(ROOT, 'bin', 'quiver.js'), 'utf8'), /\.\.\/dist\/src\/cli\/bin\.js/);
  t.true(final.instructions.some((i) => i.op === 'WORKDIR' && i.args === '/app'));
  // No dependency installation, compilers or sources in the final stage.
  const r = runs(final);
  t.notRegex(r, /\bnpm (ci|install|i)\b/);
  t.notRegex(r, /apt-get install/);
  t.deepEqual(
    copies(final).filter((c) => c.from === undefined),
    [],
  );
  t.is(envOf(final).NODE_ENV, 'production');
});

test('Dockerfile: a non-root numeric USER, and only the data directory is written', (t) => {
  const users = final.instructions.filter((i) => i.op === 'USER');
  t.true(users.length > 0);
  const user = users[users.length - 1]!.args;
  // Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  t.truthy(m, `USER ${user} is numeric`);
  t.not(Number(m![1]), 0);
  t.not(Number(m![2] ?? 1), 0);
  // Nothing runs as root after it.
  const last = final.instructions.lastIndexOf(users[users.length - 1]!);
  t.false(final.instructions.slice(last + 1).some((i) => i.op === 'USER'));

  const dataDir = envOf(final).QUIVER_DATA_DIR!;
  t.regex(dataDir, /^\/[\w/.-]+$/);
  const r = runs(final);
  t.true(r.includes(`mkdir -p ${dataDir}`));
  t.true(r.includes(`chown ${m![1]}:${m![2] ?? m![1]} ${dataDir}`) || r.includes(`chown ${m![1]} ${dataDir}`));
  const volumes = final.instructions.filter((i) => i.op === 'VOLUME').flatMap((i) => execForm(i.args) ?? i.args.split(' '));
  t.deepEqual(volumes, [dataDir]);
});

test('Dockerfile: no secrets, tokens or credentials', (t) => {
  const SECRETISH = /token|secret|passw|credential|auth|api[_-]?key|private[_-]?key|npmrc|_key\b/i;
  for (const ins of all) {
    if (ins.op === 'ARG') t.notRegex(ins.args, SECRETISH, `line ${ins.line}: ARG ${ins.args}`);
    if (ins.op === 'ENV') {
      for (const name of [...ins.args.matchAll(/(\w+)=/g)].map((x) => x[1]!)) t.notRegex(name, SECRETISH, `line ${ins.line}: ENV ${name}`);
    }
    if (ins.op === 'COPY' || ins.op === 'ADD') t.notRegex(ins.args, /\.npmrc|\.env\b|\.pem\b|\.key\b|id_rsa/, `line ${ins.line}`);
  }
  t.false(
    all.some((i) => i.op === 'ADD' && /https?:\/\//.test(i.args)),
    'no remote ADD',
  );
});

test('Dockerfile: EXPOSE matches the server defaults, HEALTHCHECK uses quiver health, the entrypoint is the CLI', (t) => {
  const exposed = final.instructions
    .filter((i) => i.op === 'EXPOSE')
    .flatMap((i) => i.args.split(' '))
    .map((p) => Number(p.replace(/\/tcp$/, '')))
    .sort((a, b) => a - b);
  const expected = [
    optionDefault('grpcPort'),
    optionDefault('httpPort'),
    optionDefault('metricsPort'),
    optionDefault('registryPort'),
    optionDefault('registryHttpPort'),
  ] as number[];
  t.deepEqual(
    exposed,
    expected.sort((a, b) => a - b),
  );
  t.deepEqual(expected.slice().sort(), [50051, 50052, 8080, 8081, 9464].sort());
  // The image keeps the server's default registry bind (loopback): no QUIVER_REGISTRY_HOST,
  // QUIVER_INSECURE_REGISTRY or TLS paths baked in.
  for (const name of Object.keys(envOf(final))) t.notRegex(name, /^QUIVER_(REGISTRY_HOST|INSECURE_REGISTRY|TLS_)/, name);

  const health = final.instructions.filter((i) => i.op === 'HEALTHCHECK');
  t.is(health.length, 1);
  const cmd = /^(?:--\S+\s+)*CMD\s+(.*)$/.exec(health[0]!.args);
  t.truthy(cmd, 'HEALTHCHECK ... CMD');
  t.deepEqual(execForm(cmd![1]!), ['node', 'bin/quiver.js', 'health']);
  const ep = final.instructions.filter((i) => i.op === 'ENTRYPOINT');
  t.deepEqual(execForm(ep[ep.length - 1]!.args), ['node', 'bin/quiver.js']);
  const cmds = final.instructions.filter((i) => i.op === 'CMD');
  t.is(execForm(cmds[cmds.length - 1]!.args)?.[0], 'serve');
});

// ---------------------------------------------------------------------------------------
// docker-compose.yml

interface ComposeService {
  readonly image?: string;
  readonly build?: string | { context: string };
  readonly command?: string[];
  readonly environment?: Record<string, string>;
  readonly ports?: string[];
  readonly volumes?: string[];
  readonly healthcheck?: { test: string[] };
  readonly profiles?: string[];
  readonly read_only?: boolean;
  readonly tmpfs?: string[];
  readonly cap_drop?: string[];
  readonly user?: string;
}

interface Compose {
  readonly services: Record<string, ComposeService>;
  readonly volumes?: Record<string, unknown>;
}

const composeText = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
const compose = parse(composeText) as Compose;
const services = compose.services;

interface Mount {
  readonly source: string;
  readonly target: string;
  readonly bind: boolean;
}

const mounts = (svc: ComposeService): Mount[] =>
  (svc.volumes ?? []).map((v) => {
    const [source, target] = v.split(':') as [string, string];
    return { source, target, bind: source.startsWith('.') || source.startsWith('/') };
  });

/** Container ports a service publishes ("[host_ip:]host:container" or "container"). */
const containerPorts = (svc: ComposeService): number[] => (svc.ports ?? []).map((p) => Number(String(p).split(':').pop()!.split('/')[0]));

/** The host address a container port is published on ('' for every interface), or undefined. */
function publishedOn(svc: ComposeService, port: number): string | undefined {
  for (const p of svc.ports ?? []) {
    const parts = String(p).split('/')[0]!.split(':');
    if (Number(parts[parts.length - 1]) !== port) continue;
    return parts.length === 3 ? parts[0]! : '';
  }
  return undefined;
}

/** The host file a container path of a service comes from (a file mount, or inside a folder mount). */
function hostFile(svc: ComposeService, containerPath: string): string | undefined {
  for (const m of mounts(svc).filter((x) => x.bind)) {
    if (containerPath === m.target) return join(ROOT, m.source);
    if (containerPath.startsWith(m.target + '/')) return join(ROOT, m.source, containerPath.slice(m.target.length + 1));
  }
  return undefined;
}

test('compose: Quiver, Prometheus, Grafana and a trace backend, with pinned images', (t) => {
  for (const name of ['quiver', 'prometheus', 'grafana']) t.truthy(services[name], name);
  t.true('jaeger' in services || 'otel-collector' in services);
  for (const [name, svc] of Object.entries(services)) {
    if (svc.image !== undefined && svc.build === undefined) t.regex(svc.image, /:[\w.-]+$/, `${name} image has a tag`);
    if (svc.image !== undefined) t.notRegex(svc.image, /:latest$/);
  }
  // Named volumes are declared.
  for (const svc of Object.values(services)) {
    for (const m of mounts(svc).filter((x) => !x.bind)) t.true(m.source in (compose.volumes ?? {}), `volume ${m.source}`);
  }
});

test('compose: Quiver is built here, publishes gRPC, REST, metrics and the registry plane, keeps its data in a volume and checks its health', (t) => {
  const q = services.quiver!;
  t.is(typeof q.build === 'string' ? q.build : q.build?.context, '.');
  const ports = containerPorts(q);
  for (const key of ['grpcPort', 'httpPort', 'metricsPort', 'registryPort', 'registryHttpPort'])
    t.true(ports.includes(optionDefault(key) as number), key);
  const dataDir = envOf(final).QUIVER_DATA_DIR!;
  const data = mounts(q).find((m) => m.target === dataDir);
  t.truthy(data, `a volume at ${dataDir}`);
  t.false(data!.bind);
  t.deepEqual(q.healthcheck?.test, ['CMD', 'node', 'bin/quiver.js', 'health']);
  // The image's hardening holds under compose: read-only root, writable /tmp, no capabilities, non-root.
  t.true(q.read_only);
  t.true((q.tmpfs ?? []).includes('/tmp'));
  t.deepEqual(q.cap_drop, ['ALL']);
  t.regex(q.user ?? '', /^[1-9]\d*(:[1-9]\d*)?$/);
  t.is(q.environment?.QUIVER_WORKERS, '1');
});

test('compose: the registry plane is reachable from the host, and only from the host while it has no tokens', (t) => {
  const q = services.quiver!;
  const env = q.environment ?? {};
  const port = optionDefault('registryPort') as number;
  t.is(port, 50052);
  t.true(containerPorts(q).includes(port), 'the registry port is published');
  // A port published from the container reaches the container's interfaces, never its
  // loopback: the registry plane must listen on 0.0.0.0 there.
  t.is(env.QUIVER_REGISTRY_HOST, '0.0.0.0');
  t.is(env.QUIVER_REGISTRY_PORT ?? String(port), String(port));
  // The server refuses a non-loopback registry with no tokens unless insecureRegistry.
  const tokens = env.QUIVER_AUTH_TOKENS_FILE !== undefined;
  t.true(tokens || env.QUIVER_INSECURE_REGISTRY === 'true');
  t.is(env.QUIVER_AUTH_TOKENS, undefined, 'no tokens in the compose file');
  if (!tokens) {
    // No tokens: the registry ports (gRPC and REST) only on the host's loopback.
    t.is(publishedOn(q, port), '127.0.0.1');
    t.is(publishedOn(q, optionDefault('registryHttpPort') as number), '127.0.0.1');
    t.is(publishedOn(q, optionDefault('httpPort') as number), '127.0.0.1');
  }
  // The choice is explained next to it.
  t.regex(composeText, /#[^\n]*registry plane[^\n]*\n(\s*#[^\n]*\n)*\s*QUIVER_REGISTRY_HOST: 0\.0\.0\.0/);
});

test('compose: traces go over OTLP to the trace backend', (t) => {
  const q = services.quiver!;
  const endpoint = new URL(q.environment!.OTEL_EXPORTER_OTLP_ENDPOINT!);
  const backend = services[endpoint.hostname];
  t.truthy(backend, `the OTLP endpoint ${endpoint.hostname} is a service`);
  // Quiver exports OTLP over HTTP (4318).
  t.is(endpoint.port, '4318');
  t.true(containerPorts(backend!).includes(4318));
  if (endpoint.hostname === 'jaeger') t.is(backend!.environment?.COLLECTOR_OTLP_ENABLED, 'true');
});

test('compose: every mounted host file exists in the repository', (t) => {
  let checked = 0;
  for (const [name, svc] of Object.entries(services)) {
    for (const m of mounts(svc).filter((x) => x.bind)) {
      t.false(posix.isAbsolute(m.source), `${name}: ${m.source} is relative to the repository`);
      t.true(existsSync(join(ROOT, m.source)), `${name}: ${m.source} exists`);
      checked++;
    }
  }
  t.true(checked >= 4);
});

test('compose: Prometheus scrapes the metrics port and loads the chart alert rules', (t) => {
  const p = services.prometheus!;
  const configPath =
    (p.command ?? []).find((c) => c.startsWith('--config.file='))?.slice('--config.file='.length) ?? '/etc/prometheus/prometheus.yml';
  const configFile = hostFile(p, configPath);
  t.is(configFile, join(ROOT, 'deploy', 'prometheus', 'prometheus.yml'));
  const config = parse(readFileSync(configFile!, 'utf8')) as {
    rule_files: string[];
    scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
  };
  const job = config.scrape_configs.find((j) => j.static_configs.some((s) => s.targets.includes(`quiver:${optionDefault('metricsPort')}`)));
  t.truthy(job, 'a job scrapes quiver on the metrics port');
  t.is(job!.metrics_path ?? '/metrics', '/metrics');
  t.true(containerPorts(services.quiver!).includes(optionDefault('metricsPort') as number));
  // The rules file Prometheus loads is the chart's.
  const rules = config.rule_files.map((r) => hostFile(p, r));
  t.deepEqual(rules, [join(ROOT, 'charts', 'quiver', 'monitoring', 'quiver-alerts.rules.yml')]);
});

test('compose: Grafana gets the Prometheus data source and the chart dashboard provisioned', (t) => {
  const g = services.grafana!;
  const provisioning = hostFile(g, '/etc/grafana/provisioning');
  t.truthy(provisioning);
  t.true(statSync(provisioning!).isDirectory());
  const datasources = parse(readFileSync(join(provisioning!, 'datasources', 'datasources.yml'), 'utf8')) as {
    datasources: { type: string; url: string; isDefault?: boolean }[];
  };
  const prom = datasources.datasources.find((d) => d.type === 'prometheus');
  t.truthy(prom);
  t.true(prom!.isDefault);
  const url = new URL(prom!.url);
  t.truthy(services[url.hostname], `${url.hostname} is a service`);
  t.true(containerPorts(services[url.hostname]!).includes(Number(url.port)));

  const providers = parse(readFileSync(join(provisioning!, 'dashboards', 'quiver.yml'), 'utf8')) as {
    providers: { type: string; options: { path: string } }[];
  };
  const provider = providers.providers.find((p) => p.type === 'file')!;
  const dashboard = hostFile(g, `${provider.options.path}/quiver-dashboard.json`);
  t.is(dashboard, join(ROOT, 'charts', 'quiver', 'monitoring', 'quiver-dashboard.json'));
  const json = JSON.parse(readFileSync(dashboard!, 'utf8')) as { uid: string; templating: { list: { type: string; query: string }[] } };
  // The dashboard picks its data source by type: the provisioned Prometheus one.
  t.true(json.templating.list.some((v) => v.type === 'datasource' && v.query === 'prometheus'));
});

test('compose: PostgreSQL is optional (profile postgres) and QUIVER_REGISTRY_URL is explained', (t) => {
  const pg = services.postgres!;
  t.deepEqual(pg.profiles, ['postgres']);
  for (const [name, svc] of Object.entries(services)) if (name !== 'postgres') t.is(svc.profiles, undefined, name);
  // Commented out on quiver, pointing at the postgres service with its user, password and database.
  const line = /^\s*#\s*QUIVER_REGISTRY_URL:\s*(postgres:\/\/\S+)\s*$/m.exec(composeText);
  t.truthy(line);
  const dsn = new URL(line![1]!);
  t.is(dsn.hostname, 'postgres');
  t.is(dsn.username, String(pg.environment?.POSTGRES_USER));
  t.is(decodeURIComponent(dsn.password), '${POSTGRES_PASSWORD}');
  t.is(dsn.pathname, `/${pg.environment!.POSTGRES_DB}`);
  t.is(services.quiver!.environment!.QUIVER_REGISTRY_URL, undefined);
});

test('compose: every published port is on the host loopback only', (t) => {
  let published = 0;
  for (const [name, svc] of Object.entries(services)) {
    for (const p of svc.ports ?? []) {
      const parts = String(p).split('/')[0]!.split(':');
      t.is(parts.length, 3, `${name}: ${p} names the host address`);
      t.is(parts[0], '127.0.0.1', `${name}: ${p} is published on 127.0.0.1`);
      published++;
    }
    // The long syntax would hide the address elsewhere: short strings only.
    for (const p of svc.ports ?? []) t.is(typeof p, 'string', `${name}: ${JSON.stringify(p)}`);
  }
  t.true(published >= 10);
});

test('compose: no default passwords, no unauthenticated admin endpoints', (t) => {
  // Prometheus: no --web.enable-lifecycle (/-/reload and /-/quit without credentials).
  t.false((services.prometheus!.command ?? []).some((c) => c.startsWith('--web.enable-lifecycle')));
  // Grafana: no admin account at all (so no admin/admin), anonymous viewers by default.
  const grafana = services.grafana!.environment ?? {};
  t.is(grafana.GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION, 'true');
  t.is(grafana.GF_SECURITY_ADMIN_PASSWORD, undefined);
  t.is(grafana.GF_AUTH_ANONYMOUS_ORG_ROLE, '${GRAFANA_ANONYMOUS_ROLE:-Viewer}');
  // PostgreSQL: not published, its password from the environment with no default.
  const pg = services.postgres!;
  t.deepEqual(pg.ports ?? [], []);
  t.regex(String(pg.environment?.POSTGRES_PASSWORD), /^\$\{POSTGRES_PASSWORD(:-)?\}$/);
  // No literal password anywhere: every *PASSWORD* value comes from the environment.
  for (const [name, svc] of Object.entries(services)) {
    for (const [key, value] of Object.entries(svc.environment ?? {})) {
      if (/PASSW/i.test(key)) t.regex(String(value), /^\$\{[A-Z_]+(:-|:\?[^}]*)?\}$/, `${name}: ${key}`);
      t.notRegex(String(value), /:\/\/[^/:@\s]+:(?!\$\{)[^@\s]+@/, `${name}: ${key} has a password in a URL`);
    }
  }
});
