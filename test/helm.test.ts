/**
 * The Helm chart (charts/quiver), rendered without helm: charts/tools/render is a small Go
 * program (text/template + sprig + Helm's built-ins) built here from Debian's golang-go and
 * golang-github-masterminds-sprig-dev. Every rendered manifest is validated with
 * kubernetes-models, then checked for what schemas cannot see: selectors that match the pod
 * labels, probe and Service ports that exist, a non-root read-only pod, the Secret-referenced
 * registry DSN, the registry plane's port and bind address, tokens and TLS files mounted from
 * Secrets, probes that speak TLS when the server does, and the monitoring files shipped as
 * they are.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler, type IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { type INetworkPolicy, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { type IPodDisruptionBudget, PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap, type IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { type IPersistentVolumeClaim, PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { type IPod, Pod } from 'kubernetes-models/v1/Pod';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import { type IService, Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { parse, parseAllDocuments } from 'yaml';

import { chartSchema, configSchema, RESERVED } from '../scripts/gen-chart-schema.js';
import { envName, OPTION_DEFS } from '../src/config/options.js';
import { ROOT } from './helpers/process.js';

const CHART = join(ROOT, 'charts', 'quiver');
const SCALED = join(CHART, 'values-scaled.yaml');
/** What a cluster with the Prometheus Operator serves (`helm template --api-versions`). */
const OPERATOR = ['--api-versions', 'monitoring.coreos.com/v1'];
const execFileP = promisify(execFile);

// ---------------------------------------------------------------------------------------
// Rendering

let workDir = '';
let renderer = '';

test.before(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'quiver-helm-'));
  renderer = join(workDir, 'render');
  const env: NodeJS.ProcessEnv = { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOFLAGS: '' };
  if (env.GOCACHE === undefined && env.HOME === undefined && env.XDG_CACHE_HOME === undefined)
    env.GOCACHE = join(tmpdir(), 'quiver-go-cache');
  try {
    await execFileP('go', ['build', '-o', renderer, './charts/tools/render'], { cwd: ROOT, env });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(
      'cannot build charts/tools/render: it needs Go and sprig from Debian ' +
        `(apt-get install -y golang-go golang-github-masterminds-sprig-dev)\n${e.stderr ?? e.message}`,
      { cause: err },
    );
  }
});

test.after.always(() => {
  if (workDir !== '') rmSync(workDir, { recursive: true, force: true });
});

interface Meta {
  readonly name: string;
  readonly namespace?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: Meta;
  readonly [field: string]: unknown;
}

interface Rendered {
  readonly docs: Manifest[];
  readonly text: string;
}

let valuesFiles = 0;

/** Writes a values file for one render (YAML is a superset of JSON). */
function valuesFile(values: object): string {
  const file = join(workDir, `values-${++valuesFiles}.yaml`);
  writeFileSync(file, JSON.stringify(values));
  return file;
}

function renderArgs(opts: { values?: (string | object)[]; args?: string[] }): string[] {
  const files = (opts.values ?? []).flatMap((v) => ['-f', typeof v === 'string' ? v : valuesFile(v)]);
  return ['--strict', ...files, ...(opts.args ?? []), CHART];
}

async function render(opts: { values?: (string | object)[]; args?: string[] } = {}): Promise<Rendered> {
  const { stdout } = await execFileP(renderer, renderArgs(opts), { maxBuffer: 16 * 1024 * 1024 });
  const docs = parseAllDocuments(stdout).map((d) => {
    if (d.errors.length > 0) throw new Error(`rendered YAML does not parse: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJSON() as Manifest | null;
  });
  return { docs: docs.filter((d): d is Manifest => d !== null), text: stdout };
}

async function notes(opts: { values?: (string | object)[]; args?: string[] } = {}): Promise<string> {
  const { stdout } = await execFileP(renderer, ['--notes', ...renderArgs(opts)]);
  return stdout;
}

/** Renders what must fail and returns the error output. */
async function renderError(opts: { values?: (string | object)[]; args?: string[] }): Promise<string> {
  try {
    await execFileP(renderer, renderArgs(opts));
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    if (e.code !== 1) throw err;
    return e.stderr ?? '';
  }
  throw new Error('rendering succeeded where it must fail');
}

const defaults = (): Promise<Rendered> => render();
const scaled = (): Promise<Rendered> => render({ values: [SCALED], args: OPERATOR });
/** API tokens from a Secret, the registry plane served to the cluster. */
const AUTH = { auth: { enabled: true, existingSecret: '{{ .Release.Name }}-tokens', secretKey: 'tokens.txt', inference: true } };
/** TLS from a kubernetes.io/tls Secret. */
const TLS = { tls: { enabled: true, existingSecret: 'quiver-tls' } };
/** mTLS: the client CA from another Secret, the probes' own client certificate. */
const MTLS = {
  tls: {
    enabled: true,
    existingSecret: 'quiver-tls',
    clientCa: { enabled: true, existingSecret: 'clients-ca' },
    clientAuth: true,
    probeClientCert: { existingSecret: 'quiver-probe' },
  },
};

// ---------------------------------------------------------------------------------------
// Helpers over the manifests

function all<T = Manifest>(r: Rendered, kind: string): T[] {
  return r.docs.filter((d) => d.kind === kind) as unknown as T[];
}

function one<T = Manifest>(r: Rendered, kind: string, name?: string): T {
  const found = r.docs.filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, rendered ${found.length}`);
  return found[0] as unknown as T;
}

const deployment = (r: Rendered): IDeployment => one<IDeployment>(r, 'Deployment');
const podSpec = (r: Rendered): IPodSpec => deployment(r).spec!.template.spec!;
const podLabels = (r: Rendered): Record<string, string> => deployment(r).spec!.template.metadata!.labels!;
const quiver = (r: Rendered): IContainer => podSpec(r).containers.find((c) => c.name === 'quiver')!;
const serverConfig = (r: Rendered): Record<string, string> => one<IConfigMap>(r, 'ConfigMap', deployment(r).metadata!.name).data!;

/** A matchLabels selector selects the labels: non-empty and every pair present. */
function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (selector === undefined || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

// kubernetes-models' classes by apiVersion/kind; their validate() checks the OpenAPI schema.
type ModelClass = new (data: never) => { validate(): void };
const MODELS: Record<string, ModelClass> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Pod': Pod,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
};

interface ServiceMonitor extends Manifest {
  readonly spec: {
    readonly selector: { readonly matchLabels: Record<string, string> };
    readonly namespaceSelector: { readonly matchNames: string[] };
    readonly endpoints: { readonly port: string; readonly path: string; readonly interval: string }[];
  };
}

interface ScaledObject extends Manifest {
  readonly spec: {
    readonly scaleTargetRef: { readonly apiVersion?: string; readonly kind?: string; readonly name: string };
    readonly minReplicaCount: number;
    readonly maxReplicaCount: number;
    readonly triggers: {
      readonly type: string;
      readonly name?: string;
      readonly metricType?: string;
      readonly metadata: Record<string, string>;
    }[];
  };
}

interface PrometheusRule extends Manifest {
  readonly spec: { readonly groups: { readonly name: string; readonly rules: Record<string, unknown>[] }[] };
}

/** The checks every render must pass, whatever the values. */
function checkManifests(r: Rendered, namespace = 'default'): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const doc of r.docs) {
    const id = `${doc.kind}/${doc.metadata?.name}`;
    if (seen.has(id)) problems.push(`${id} is rendered twice`);
    seen.add(id);
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(doc.metadata?.name ?? '') || doc.metadata.name.length > 63) {
      problems.push(`${id}: bad name`);
    }
    if (doc.metadata.namespace !== namespace) problems.push(`${id}: namespace ${doc.metadata.namespace}, not ${namespace}`);
    if (doc.metadata.labels?.['app.kubernetes.io/managed-by'] !== 'Helm') problems.push(`${id}: no managed-by label`);
    const model = MODELS[`${doc.apiVersion}/${doc.kind}`];
    if (model !== undefined) {
      try {
        new model(doc as never).validate();
      } catch (err) {
        problems.push(`${id}: ${(err as Error).message}`);
      }
    } else if (doc.apiVersion === 'monitoring.coreos.com/v1' && doc.kind === 'ServiceMonitor') {
      const spec = (doc as ServiceMonitor).spec;
      if (!spec?.selector?.matchLabels || !Array.isArray(spec.endpoints) || spec.endpoints.length === 0) {
        problems.push(`${id}: needs spec.selector.matchLabels and spec.endpoints`);
      }
    } else if (doc.apiVersion === 'monitoring.coreos.com/v1' && doc.kind === 'PrometheusRule') {
      const groups = (doc as PrometheusRule).spec?.groups;
      const ok =
        Array.isArray(groups) &&
        groups.length > 0 &&
        groups.every(
          (g) =>
            typeof g.name === 'string' &&
            g.rules.length > 0 &&
            g.rules.every((rule) => typeof rule.expr === 'string' && (typeof rule.alert === 'string' || typeof rule.record === 'string')),
        );
      if (!ok) problems.push(`${id}: spec.groups must be named groups of rules with expr and alert or record`);
    } else if (doc.apiVersion === 'keda.sh/v1alpha1' && doc.kind === 'ScaledObject') {
      const spec = (doc as ScaledObject).spec;
      const ok =
        typeof spec?.scaleTargetRef?.name === 'string' &&
        Number.isInteger(spec.minReplicaCount) &&
        spec.maxReplicaCount >= spec.minReplicaCount &&
        Array.isArray(spec.triggers) &&
        spec.triggers.length > 0 &&
        spec.triggers.every((tr) =>
          tr.type === 'prometheus'
            ? ['serverAddress', 'query', 'threshold'].every((k) => typeof tr.metadata?.[k] === 'string' && tr.metadata[k] !== '')
            : (tr.type === 'cpu' || tr.type === 'memory') && tr.metricType === 'Utilization' && /^\d+$/.test(tr.metadata?.value ?? ''),
        );
      if (!ok) problems.push(`${id}: needs scaleTargetRef, min <= max replicas and well-formed cpu, memory or prometheus triggers`);
    } else {
      problems.push(`${id}: ${doc.apiVersion} ${doc.kind} is not validated by this test: add it to MODELS`);
    }
  }

  const deploy = deployment(r);
  const labels = podLabels(r);
  const spec = podSpec(r);
  const main = quiver(r);
  const containerPorts = main.ports ?? [];
  const portByName = new Map(containerPorts.map((p) => [p.name, p.containerPort]));
  const portNumbers = new Set(containerPorts.map((p) => p.containerPort));
  if (portByName.size !== containerPorts.length || portNumbers.size !== containerPorts.length) problems.push('container ports repeat');

  // Selectors match the pod template's labels.
  if (!selects(deploy.spec!.selector.matchLabels, labels)) problems.push("the Deployment's selector does not select its pods");
  for (const svc of all<IService>(r, 'Service')) {
    if (!selects(svc.spec!.selector, labels)) problems.push(`Service ${svc.metadata!.name} does not select the pods`);
    for (const p of svc.spec!.ports!) {
      const target = p.targetPort ?? p.port;
      const ok = typeof target === 'string' ? portByName.has(target) : portNumbers.has(target);
      if (!ok) problems.push(`Service ${svc.metadata!.name} port ${p.name}: target ${target} is no container port`);
    }
  }
  for (const pdb of all<IPodDisruptionBudget>(r, 'PodDisruptionBudget')) {
    if (!selects(pdb.spec!.selector!.matchLabels, labels)) problems.push('the PodDisruptionBudget does not select the pods');
  }
  for (const hpa of all<IHorizontalPodAutoscaler>(r, 'HorizontalPodAutoscaler')) {
    const ref = hpa.spec!.scaleTargetRef;
    if (ref.apiVersion !== 'apps/v1' || ref.kind !== 'Deployment' || ref.name !== deploy.metadata!.name) {
      problems.push(`the HPA scales ${ref.apiVersion} ${ref.kind} ${ref.name}, not the Deployment`);
    }
    if (deploy.spec!.replicas !== undefined) problems.push('with the HPA on, the Deployment must leave replicas to it');
  }
  for (const so of all<ScaledObject>(r, 'ScaledObject')) {
    const ref = so.spec.scaleTargetRef;
    if (ref.apiVersion !== 'apps/v1' || ref.kind !== 'Deployment' || ref.name !== deploy.metadata!.name)
      problems.push(`the ScaledObject scales ${ref.kind} ${ref.name}, not the Deployment`);
    if (deploy.spec!.replicas !== undefined) problems.push('with KEDA on, the Deployment must leave replicas to it');
    if (all(r, 'HorizontalPodAutoscaler').length > 0) problems.push("the chart's HPA and KEDA's would fight over the replicas");
    // Prometheus triggers look at this release's pods, by the labels the ServiceMonitor gives them.
    for (const tr of so.spec.triggers.filter((x) => x.type === 'prometheus')) {
      if (!tr.metadata.query!.includes(`namespace="${namespace}",service="${deploy.metadata!.name}"`))
        problems.push(`ScaledObject trigger ${tr.name}: the query does not select this release's series`);
    }
  }
  for (const np of all<INetworkPolicy>(r, 'NetworkPolicy')) {
    if (!selects(np.spec!.podSelector?.matchLabels, labels)) problems.push('the NetworkPolicy does not select the pods');
    for (const rule of np.spec!.ingress ?? []) {
      for (const p of rule.ports ?? []) {
        const ok = typeof p.port === 'string' ? portByName.has(p.port) : portNumbers.has(p.port!);
        if (!ok) problems.push(`NetworkPolicy port ${p.port} is no container port`);
      }
    }
  }
  for (const c of spec.topologySpreadConstraints ?? []) {
    if (!selects(c.labelSelector?.matchLabels, labels)) problems.push(`topology spread over ${c.topologyKey} does not select the pods`);
  }
  // Nothing else (the `helm test` pod) is selected as one of the serving pods.
  const svcSelector = one<IService>(r, 'Service', deploy.metadata!.name).spec!.selector;
  for (const pod of all<IPod>(r, 'Pod')) {
    if (selects(svcSelector, pod.metadata!.labels)) problems.push(`Pod ${pod.metadata!.name} is selected by the Service`);
  }
  for (const sm of all<ServiceMonitor>(r, 'ServiceMonitor')) {
    const targets = all<IService>(r, 'Service').filter((s) => selects(sm.spec.selector.matchLabels, s.metadata!.labels));
    // One Service (not the headless one too), so each pod is scraped once.
    if (targets.length !== 1) problems.push(`the ServiceMonitor selects ${targets.length} Services`);
    for (const ep of sm.spec.endpoints) {
      if (!targets.every((s) => s.spec!.ports!.some((p) => p.name === ep.port))) problems.push(`ServiceMonitor port ${ep.port} missing`);
    }
    if (!sm.spec.namespaceSelector.matchNames.includes(namespace)) problems.push('the ServiceMonitor looks in another namespace');
  }

  // Probes: every port is a container port (gRPC probes take numbers only).
  const probes: [string, IProbe | undefined][] = [
    ['startup', main.startupProbe],
    ['liveness', main.livenessProbe],
    ['readiness', main.readinessProbe],
  ];
  for (const [name, probe] of probes) {
    if (probe === undefined) {
      problems.push(`no ${name} probe`);
      continue;
    }
    if (probe.exec !== undefined) {
      // `quiver health` against this pod's gRPC port (the TLS case, checked below).
      const port = Number(
        healthAddress(probe.exec.command ?? [])
          ?.split(':')
          .pop(),
      );
      if (!portNumbers.has(port)) problems.push(`${name} probe: quiver health on ${port}, no container port`);
      continue;
    }
    const port = probe.grpc?.port ?? probe.httpGet?.port ?? probe.tcpSocket?.port;
    const ok = typeof port === 'string' ? portByName.has(port) : port !== undefined && portNumbers.has(port);
    if (!ok) problems.push(`${name} probe port ${port} is no container port`);
  }

  // Non-root and read-only, every container of every pod; writable paths are volumes.
  const pods: [string, IPodSpec][] = [
    ['Deployment', spec],
    ...all<IPod>(r, 'Pod').map((p): [string, IPodSpec] => [p.metadata!.name!, p.spec!]),
  ];
  for (const [owner, ps] of pods) {
    if (ps.securityContext?.runAsNonRoot !== true || ps.securityContext.runAsUser === 0) problems.push(`${owner}: pod may run as root`);
    if (ps.automountServiceAccountToken !== false) problems.push(`${owner}: mounts a service account token`);
    for (const c of ps.containers) {
      const sc = c.securityContext;
      if (sc?.runAsNonRoot !== true || sc.runAsUser === 0) problems.push(`${owner}/${c.name}: may run as root`);
      if (sc?.readOnlyRootFilesystem !== true) problems.push(`${owner}/${c.name}: root filesystem not read-only`);
      if (sc?.allowPrivilegeEscalation !== false) problems.push(`${owner}/${c.name}: privilege escalation allowed`);
      if (!sc?.capabilities?.drop?.includes('ALL') || (sc.capabilities.add ?? []).length > 0) {
        problems.push(`${owner}/${c.name}: capabilities not all dropped`);
      }
      if (c.resources?.requests === undefined || c.resources.limits?.memory === undefined)
        problems.push(`${owner}/${c.name}: no resources`);
      for (const m of c.volumeMounts ?? []) {
        const vol = (ps.volumes ?? []).find((v) => v.name === m.name);
        if (vol === undefined) problems.push(`${owner}/${c.name}: mount ${m.name} has no volume`);
        else if (vol.secret !== undefined || vol.projected !== undefined) {
          // Secrets (tokens, TLS) are mounted read-only, readable by the pod's group only.
          if (m.readOnly !== true) problems.push(`${owner}/${c.name}: Secret volume ${m.name} not mounted read-only`);
          const mode = vol.secret?.defaultMode ?? vol.projected?.defaultMode;
          if (mode === undefined || (mode & 0o007) !== 0) problems.push(`${owner}: Secret volume ${m.name} readable by others`);
        } else if (vol.emptyDir === undefined && vol.persistentVolumeClaim === undefined)
          problems.push(`${owner}: volume ${m.name} not writable`);
      }
      if (!(c.volumeMounts ?? []).some((m) => m.mountPath === '/tmp')) problems.push(`${owner}/${c.name}: no writable /tmp`);
    }
  }

  // The server's options come from the ConfigMap; its ports and data directory agree with the pod.
  const config = serverConfig(r);
  const envFrom = main.envFrom ?? [];
  if (!envFrom.some((e) => e.configMapRef?.name === deploy.metadata!.name)) problems.push('the server ConfigMap is not in envFrom');
  const known = new Set(OPTION_DEFS.map((d) => envName(d.key)));
  for (const key of Object.keys(config)) {
    if (key.startsWith('QUIVER_') && !known.has(key)) problems.push(`ConfigMap ${key} is not a server option`);
  }
  for (const [name, env] of [
    ['grpc', 'QUIVER_GRPC_PORT'],
    ['http', 'QUIVER_HTTP_PORT'],
    ['metrics', 'QUIVER_METRICS_PORT'],
    ['registry', 'QUIVER_REGISTRY_PORT'],
    ['registry-http', 'QUIVER_REGISTRY_HTTP_PORT'],
  ] as const) {
    if (String(portByName.get(name)) !== config[env])
      problems.push(`container port ${name} ${portByName.get(name)} but ${env}=${config[env]}`);
  }
  // The serving planes listen where the probes, the Services and Prometheus reach them.
  for (const env of ['QUIVER_GRPC_HOST', 'QUIVER_HTTP_HOST', 'QUIVER_METRICS_HOST']) {
    if (config[env] !== '0.0.0.0') problems.push(`${env} is ${config[env]}, not 0.0.0.0`);
  }
  problems.push(...checkScaling(r, config));
  const dataMount = (main.volumeMounts ?? []).find((m) => m.name === 'data');
  if (dataMount === undefined || dataMount.mountPath !== config.QUIVER_DATA_DIR) problems.push('QUIVER_DATA_DIR is not the data volume');
  for (const [name, probe] of probes) {
    if (probe?.grpc !== undefined && probe.grpc.port !== portByName.get('grpc')) problems.push(`${name} probe is not on the gRPC port`);
  }

  // The registry plane: off loopback only with tokens or insecureRegistry (the server refuses
  // to start otherwise), and never with tokens in plain text.
  const host = config.QUIVER_REGISTRY_HOST;
  if (host !== '127.0.0.1' && host !== '0.0.0.0') problems.push(`QUIVER_REGISTRY_HOST ${host}`);
  if (host !== '127.0.0.1' && config.QUIVER_AUTH_TOKENS_FILE === undefined && config.QUIVER_INSECURE_REGISTRY !== 'true')
    problems.push('the registry plane listens off loopback with no tokens: the server would refuse to start');
  if (config.QUIVER_AUTH_INFERENCE === 'true' && config.QUIVER_AUTH_TOKENS_FILE === undefined)
    problems.push('authInference without tokens: the server would refuse to start');
  if ('QUIVER_AUTH_TOKENS' in config || (main.env ?? []).some((e) => e.name === 'QUIVER_AUTH_TOKENS'))
    problems.push('QUIVER_AUTH_TOKENS is set: tokens come from a mounted file');
  // Every file the server reads (tokens, TLS) lies in a read-only Secret mount of the container.
  for (const key of ['QUIVER_AUTH_TOKENS_FILE', 'QUIVER_TLS_CERT', 'QUIVER_TLS_KEY', 'QUIVER_TLS_CLIENT_CA']) {
    const file = config[key];
    if (file === undefined) continue;
    if (secretMountOf(spec, main, file) === undefined) problems.push(`${key} ${file} is in no read-only Secret mount`);
  }
  // Kubernetes' gRPC probes cannot speak TLS: with TLS on, every probe runs `quiver health --tls`.
  const tls = config.QUIVER_TLS_CERT !== undefined;
  for (const [name, probe] of probes) {
    if (probe === undefined) continue;
    const command = probe.exec?.command ?? [];
    if (tls && (probe.grpc !== undefined || !isTlsHealth(command)))
      problems.push(`${name} probe: TLS is on but it is not quiver health --tls`);
    if (!tls && probe.grpc === undefined) problems.push(`${name} probe: TLS is off but it is not a gRPC probe`);
    if (tls && config.QUIVER_TLS_CLIENT_AUTH === 'true') {
      for (const flag of ['--tls-client-cert', '--tls-client-key']) {
        const file = command[command.indexOf(flag) + 1];
        if (!command.includes(flag) || file === undefined || secretMountOf(spec, main, file) === undefined)
          problems.push(`${name} probe: mTLS needs ${flag} from a mounted Secret`);
      }
    }
  }
  return problems;
}

const optionDefault = (key: string): unknown => OPTION_DEFS.find((d) => d.key === key)!.default({});

/**
 * What one pod or many need: the embedded SQLite registry on one pod and no shared volume, a
 * volume one pod writes at a time rolled with Recreate, a grace period that covers the preStop
 * pause and the drain, appProtocols that match TLS, the artifact cache's ephemeral storage,
 * and a `helm test` pod that can pull the image and that the NetworkPolicy admits.
 */
function checkScaling(r: Rendered, config: Record<string, string>): string[] {
  const problems: string[] = [];
  const deploy = deployment(r);
  const spec = podSpec(r);
  const main = quiver(r);
  const hpas = all<IHorizontalPodAutoscaler>(r, 'HorizontalPodAutoscaler');
  const scaledObjects = r.docs.filter((d) => d.kind === 'ScaledObject');
  const multi = hpas.length > 0 || scaledObjects.length > 0 || (deploy.spec!.replicas ?? 1) > 1;
  const sqlite = !(main.env ?? []).some((e) => e.name === 'QUIVER_REGISTRY_URL') && config.QUIVER_REGISTRY !== 'false';
  const claim = spec.volumes!.find((v) => v.name === 'data')?.persistentVolumeClaim?.claimName;
  const pvc = all<IPersistentVolumeClaim>(r, 'PersistentVolumeClaim').find((c) => c.metadata!.name === claim);
  const modes = pvc?.spec!.accessModes ?? [];
  if (sqlite && multi) problems.push('the SQLite registry with more than one pod: each would have a registry of its own');
  if (sqlite && modes.some((m) => m === 'ReadWriteMany' || m === 'ReadOnlyMany'))
    problems.push(`the SQLite registry on a shared volume (${modes.join(',')})`);
  if (modes.some((m) => m === 'ReadWriteOnce' || m === 'ReadWriteOncePod') && deploy.spec!.strategy?.type !== 'Recreate')
    problems.push(`a ${modes.join(',')} volume rolled with ${deploy.spec!.strategy?.type}: the new pod cannot mount it`);
  for (const hpa of hpas) if ((hpa.spec!.metrics ?? []).length === 0) problems.push('the HPA has no metric');
  // terminationGracePeriodSeconds >= preStop sleep + ceil(shutdownGraceMs / 1000) + 5.
  const preStop = Number(main.lifecycle?.preStop?.exec?.command?.[1] ?? 0);
  const drainMs = Number(config.QUIVER_SHUTDOWN_GRACE_MS ?? optionDefault('shutdownGraceMs'));
  const needed = preStop + Math.ceil(drainMs / 1000) + 5;
  if ((spec.terminationGracePeriodSeconds ?? 30) < needed)
    problems.push(`terminationGracePeriodSeconds ${spec.terminationGracePeriodSeconds} < preStop ${preStop} s + drain ${drainMs} ms + 5 s`);
  // h2c (HTTP/2 in clear) only without TLS.
  const tls = config.QUIVER_TLS_CERT !== undefined;
  for (const svc of all<IService>(r, 'Service')) {
    for (const p of svc.spec!.ports!) {
      const h2c = p.appProtocol === 'kubernetes.io/h2c';
      if (tls && (h2c || p.appProtocol === 'http') && p.name !== 'metrics')
        problems.push(`Service ${svc.metadata!.name} port ${p.name}: appProtocol ${p.appProtocol} under TLS`);
      if (!tls && p.appProtocol === 'https') problems.push(`Service ${svc.metadata!.name} port ${p.name}: https without TLS`);
    }
  }
  // The data directory's artifact cache (an emptyDir without persistence) and /tmp are ephemeral storage.
  const requests = main.resources?.requests ?? {};
  const limits = main.resources?.limits ?? {};
  if (requests['ephemeral-storage'] === undefined || limits['ephemeral-storage'] === undefined)
    problems.push('no ephemeral-storage request and limit');
  else {
    const emptyDirs = spec.volumes!.reduce((sum, v) => sum + (v.emptyDir ? bytes(String(v.emptyDir.sizeLimit ?? 0)) : 0), 0);
    if (bytes(String(limits['ephemeral-storage'])) < emptyDirs)
      problems.push('the ephemeral-storage limit is below the emptyDir size limits');
  }
  // The `helm test` pod pulls as the Deployment does and is admitted to the serving ports.
  for (const pod of all<IPod>(r, 'Pod')) {
    if (JSON.stringify(pod.spec!.imagePullSecrets ?? []) !== JSON.stringify(spec.imagePullSecrets ?? []))
      problems.push(`Pod ${pod.metadata!.name}: imagePullSecrets differ from the Deployment's`);
    for (const np of all<INetworkPolicy>(r, 'NetworkPolicy')) {
      const serving = (np.spec!.ingress ?? []).find((rule) => (rule.ports ?? []).some((p) => p.port === 'grpc'));
      const from = serving?.from;
      const admitted =
        serving !== undefined &&
        (from === undefined ||
          from.length === 0 ||
          from.some((peer) => peer.namespaceSelector === undefined && selects(peer.podSelector?.matchLabels, pod.metadata!.labels)));
      if (!admitted) problems.push(`Pod ${pod.metadata!.name} is not admitted to the gRPC port by the NetworkPolicy`);
    }
  }
  return problems;
}

/** A Kubernetes quantity in bytes (the binary and decimal suffixes the chart uses). */
function bytes(q: string): number {
  const m = /^([0-9.]+)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
  if (m === null) throw new Error(`quantity ${q}`);
  const units: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  const unit = units[m[2] ?? ''] ?? 1;
  return Number(m[1]) * unit;
}

/** The read-only Secret (or projected) volume mount of a container that holds the file. */
function secretMountOf(spec: IPodSpec, c: IContainer, file: string): string | undefined {
  const mount = (c.volumeMounts ?? []).find((m) => file.startsWith(`${m.mountPath.replace(/\/$/, '')}/`));
  if (mount === undefined || mount.readOnly !== true) return undefined;
  const vol = (spec.volumes ?? []).find((v) => v.name === mount.name);
  if (vol?.secret === undefined && vol?.projected === undefined) return undefined;
  // The file's name in the volume is one of the items it projects.
  const rel = file.slice(mount.mountPath.replace(/\/$/, '').length + 1);
  const items = [...(vol.secret?.items ?? []), ...(vol.projected?.sources ?? []).flatMap((s) => s.secret?.items ?? [])];
  return items.some((i) => i.path === rel) ? mount.name : undefined;
}

/** The --address of a `quiver health` command line (node /app/bin/quiver.js health ...). */
function healthAddress(command: readonly string[]): string | undefined {
  const i = command.indexOf('--address');
  return i < 0 ? undefined : command[i + 1];
}

/** A `quiver health --tls` command line run by the image's node. */
function isTlsHealth(command: readonly string[]): boolean {
  return command[0] === 'node' && command[1] === '/app/bin/quiver.js' && command[2] === 'health' && command.includes('--tls');
}

// ---------------------------------------------------------------------------------------
// Tests

test('default values: every manifest validates and selectors, ports, probes and security agree', async (t) => {
  const r = await defaults();
  t.deepEqual(checkManifests(r), []);
  t.deepEqual(r.docs.map((d) => d.kind).sort(), [
    'ConfigMap',
    'ConfigMap',
    'Deployment',
    'NetworkPolicy',
    'Pod',
    'PodDisruptionBudget',
    'Service',
    'ServiceAccount',
  ]);
  t.is(deployment(r).spec!.replicas, 1);
  // The embedded registry: no DSN, no Secret needed.
  t.false((quiver(r).env ?? []).some((e) => e.name === 'QUIVER_REGISTRY_URL'));
  t.false(r.text.includes('secretKeyRef'));
});

test('scaled values: 3+ replicas under the HPA, the DSN from a Secret, operator objects, all consistent', async (t) => {
  const r = await scaled();
  t.deepEqual(checkManifests(r), []);
  const values = parse(readFileSync(SCALED, 'utf8')) as { replicaCount: number };
  t.true(values.replicaCount >= 3);
  const hpa = one<IHorizontalPodAutoscaler>(r, 'HorizontalPodAutoscaler');
  t.true(hpa.spec!.minReplicas! >= 3);
  t.true(hpa.spec!.maxReplicas > hpa.spec!.minReplicas!);
  t.is(hpa.apiVersion, 'autoscaling/v2');
  const cpu = hpa.spec!.metrics!.find((m) => m.resource?.name === 'cpu');
  t.is(cpu?.resource?.target.type, 'Utilization');
  t.true((cpu?.resource?.target.averageUtilization ?? 0) > 0);
  // The replicas share the PostgreSQL registry; the DSN never appears in the manifests.
  const dsn = (quiver(r).env ?? []).find((e) => e.name === 'QUIVER_REGISTRY_URL');
  t.deepEqual(dsn?.valueFrom?.secretKeyRef, { name: 'quiver-registry', key: 'dsn' });
  t.false(r.text.includes('postgres://'));
  t.false(Object.keys(serverConfig(r)).includes('QUIVER_REGISTRY_URL'));
  t.is(serverConfig(r).QUIVER_DEMO, 'false');
  t.true(Number(serverConfig(r).QUIVER_MAX_CONNECTION_AGE_MS) > 0);
  t.is(one<IPodDisruptionBudget>(r, 'PodDisruptionBudget').spec!.minAvailable, 2);
  one(r, 'ServiceMonitor');
  one(r, 'PrometheusRule');
  t.is(one<IService>(r, 'Service', 'quiver-headless').spec!.clusterIP, 'None');
  t.is(serverConfig(r).OTEL_TRACES_SAMPLER, 'parentbased_traceidratio');
  t.deepEqual(
    podSpec(r).topologySpreadConstraints!.map((c) => c.topologyKey),
    ['kubernetes.io/hostname', 'topology.kubernetes.io/zone'],
  );
  // The registry plane is served to the cluster, so it has tokens: a Secret mounted as a file.
  t.is(serverConfig(r).QUIVER_REGISTRY_HOST, '0.0.0.0');
  const tokens = podSpec(r).volumes!.find((v) => v.secret?.secretName === 'quiver-tokens');
  t.truthy(tokens, 'the tokens Secret is a volume');
  t.true(serverConfig(r).QUIVER_AUTH_TOKENS_FILE!.startsWith('/etc/quiver/auth/'));
  t.is(serverConfig(r).QUIVER_INSECURE_REGISTRY, undefined);
  // Trial loads fit in the pod's memory limit, with room for the server.
  const limitMi = Number(/^(\d+)Mi$/.exec(String(quiver(r).resources!.limits!.memory))![1]);
  t.true(Number(serverConfig(r).QUIVER_TRIAL_MAX_MEMORY_MB) + 512 <= limitMi);
});

test('probes: gRPC health on the gRPC port, "" for liveness and startup, PredictionService for readiness', async (t) => {
  for (const r of [await defaults(), await scaled(), await render({ values: [AUTH] })]) {
    const c = quiver(r);
    const grpcPort = c.ports!.find((p) => p.name === 'grpc')!.containerPort;
    t.deepEqual(c.livenessProbe!.grpc, { port: grpcPort, service: '' });
    t.deepEqual(c.startupProbe!.grpc, { port: grpcPort, service: '' });
    t.deepEqual(c.readinessProbe!.grpc, { port: grpcPort, service: 'quiver.v1.PredictionService' });
    for (const probe of [c.livenessProbe!, c.startupProbe!, c.readinessProbe!]) t.is(probe.exec, undefined);
    t.deepEqual(c.lifecycle?.preStop?.exec?.command, ['sleep', '5']);
    // The drain (shutdownGraceMs) and the preStop pause fit in the termination grace period.
    const grace = podSpec(r).terminationGracePeriodSeconds!;
    t.true(Number(serverConfig(r).QUIVER_SHUTDOWN_GRACE_MS) / 1000 + 5 < grace);
  }
});

test('probes with TLS: exec `quiver health --tls` on the gRPC port (gRPC probes cannot speak TLS), with the client certificate under mTLS', async (t) => {
  // The exec probes run the image's CLI by its path in the image.
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  t.regex(dockerfile, /^WORKDIR \/app$/m);
  t.regex(dockerfile, /^COPY --from=build \/app\/bin \.\/bin$/m);

  const command = (p: IProbe): string[] => p.exec!.command!;
  const base = ['node', '/app/bin/quiver.js', 'health', '--address', '127.0.0.1:50051'];
  for (const [values, clientPair] of [
    [[TLS], undefined],
    [[SCALED, TLS], undefined],
    [[AUTH, MTLS], '/etc/quiver/probe-tls'],
    [[{ tls: { ...MTLS.tls, probeClientCert: { existingSecret: '' } } }], '/etc/quiver/tls'],
  ] as const) {
    const r = await render({ values: [...values], args: OPERATOR });
    t.deepEqual(checkManifests(r), []);
    const c = quiver(r);
    const probes = { startup: c.startupProbe!, liveness: c.livenessProbe!, readiness: c.readinessProbe! };
    for (const [name, probe] of Object.entries(probes)) {
      t.is(probe.grpc, undefined, name);
      const service = name === 'readiness' ? 'quiver.v1.PredictionService' : '';
      const tlsArgs = [
        '--tls',
        ...(clientPair ? ['--tls-client-cert', `${clientPair}/tls.crt`, '--tls-client-key', `${clientPair}/tls.key`] : []),
      ];
      t.deepEqual(command(probe), [...base, '--service', service, '--timeout', '4000', ...tlsArgs], name);
      // A Node process starts for each: more time than a gRPC probe, the CLI's deadline inside it.
      t.true(probe.timeoutSeconds! >= 5);
    }
    t.is(probes.startup.failureThreshold! * probes.startup.periodSeconds!, 120);
    // The TLS files are the mounted Secret's.
    const config = serverConfig(r);
    t.is(config.QUIVER_TLS_CERT, '/etc/quiver/tls/tls.crt');
    t.is(config.QUIVER_TLS_KEY, '/etc/quiver/tls/tls.key');
    t.is(config.QUIVER_TLS_CLIENT_AUTH, clientPair ? 'true' : 'false');
    t.is(config.QUIVER_TLS_CLIENT_CA, clientPair ? '/etc/quiver/tls/ca.crt' : undefined);
    const tls = podSpec(r).volumes!.find((v) => v.name === 'tls')!;
    const sources = tls.projected!.sources!.map((s) => [s.secret!.name, s.secret!.items!.map((i) => [i.key, i.path])]);
    t.deepEqual(sources[0], [
      'quiver-tls',
      [
        ['tls.crt', 'tls.crt'],
        ['tls.key', 'tls.key'],
      ],
    ]);
    if (clientPair) t.deepEqual(sources[1], ['clients-ca', [['ca.crt', 'ca.crt']]]);
    // The `helm test` pod speaks TLS too, presenting the same client certificate under mTLS.
    const testPod = one<IPod>(r, 'Pod').spec!;
    const args = testPod.containers[0]!.args!;
    t.true(args.includes('--tls'));
    if (clientPair) {
      const cert = args[args.indexOf('--tls-client-cert') + 1]!;
      t.truthy(secretMountOf(testPod, testPod.containers[0]!, cert), `${cert} is mounted in the test pod`);
    }
  }
  // A cert-manager Secret with the CA in it: the client CA comes from the same Secret.
  const same = await render({ values: [{ tls: { enabled: true, existingSecret: 'quiver-tls', clientCa: { enabled: true } } }] });
  t.deepEqual(
    podSpec(same)
      .volumes!.find((v) => v.name === 'tls')!
      .projected!.sources!.map((s) => s.secret!.name),
    ['quiver-tls', 'quiver-tls'],
  );
  t.is(serverConfig(same).QUIVER_TLS_CLIENT_AUTH, 'false');
});

test('ports: gRPC, REST, metrics and the registry plane are container and Service ports with the option defaults', async (t) => {
  const defaultsOf = (key: string): unknown => OPTION_DEFS.find((d) => d.key === key)!.default({});
  t.is(defaultsOf('registryPort'), 50052);
  for (const r of [await defaults(), await scaled(), await render({ values: [AUTH, MTLS] })]) {
    t.deepEqual(checkManifests(r), []);
    const ports = Object.fromEntries(quiver(r).ports!.map((p) => [p.name, p.containerPort]));
    t.deepEqual(ports, {
      grpc: defaultsOf('grpcPort'),
      http: defaultsOf('httpPort'),
      metrics: defaultsOf('metricsPort'),
      registry: defaultsOf('registryPort'),
      'registry-http': defaultsOf('registryHttpPort'),
    });
    const svc = one<IService>(r, 'Service', 'quiver');
    t.deepEqual(
      svc.spec!.ports!.map((p) => [p.name, p.port, p.targetPort]),
      Object.entries(ports).map(([name, port]) => [name, port, name]),
    );
    t.is(serverConfig(r).QUIVER_REGISTRY_PORT, '50052');
    t.is(serverConfig(r).QUIVER_REGISTRY_HTTP_PORT, '8081');
  }
  // Moved, the registry port moves everywhere: container, Service, ConfigMap, NetworkPolicy.
  const moved = await render({ values: [{ ports: { registry: 6000 } }] });
  t.deepEqual(checkManifests(moved), []);
  t.is(quiver(moved).ports!.find((p) => p.name === 'registry')!.containerPort, 6000);
  t.is(one<IService>(moved, 'Service', 'quiver').spec!.ports!.find((p) => p.name === 'registry')!.port, 6000);
  t.is(serverConfig(moved).QUIVER_REGISTRY_PORT, '6000');
  t.true(one<INetworkPolicy>(moved, 'NetworkPolicy').spec!.ingress!.some((rule) => rule.ports!.some((p) => p.port === 6000)));
  // So does the registry plane's REST port (QUIVER_REGISTRY_HTTP_PORT), in the registry's rule.
  const movedRest = await render({ values: [{ ports: { registryHttp: 6001 } }] });
  t.deepEqual(checkManifests(movedRest), []);
  t.is(quiver(movedRest).ports!.find((p) => p.name === 'registry-http')!.containerPort, 6001);
  t.is(one<IService>(movedRest, 'Service', 'quiver').spec!.ports!.find((p) => p.name === 'registry-http')!.port, 6001);
  t.is(serverConfig(movedRest).QUIVER_REGISTRY_HTTP_PORT, '6001');
  const restRule = one<INetworkPolicy>(movedRest, 'NetworkPolicy').spec!.ingress!.find((rule) => rule.ports!.some((p) => p.port === 6001))!;
  t.deepEqual(
    restRule.ports!.map((p) => p.port),
    [50052, 6001],
  );
  const hidden = await render({ values: [{ service: { exposeRegistryPort: false } }] });
  t.false(one<IService>(hidden, 'Service', 'quiver').spec!.ports!.some((p) => p.name === 'registry' || p.name === 'registry-http'));
});

test('the registry plane: loopback in the pod unless tokens (or registry.insecure) let it serve the cluster', async (t) => {
  const host = async (values: object[]): Promise<Record<string, string>> => serverConfig(await render({ values }));
  // No tokens: 127.0.0.1, however the registry is stored.
  t.is((await host([])).QUIVER_REGISTRY_HOST, '127.0.0.1');
  t.is((await host([{ registry: { backend: 'postgres', postgres: { existingSecret: 'pg' } } }])).QUIVER_REGISTRY_HOST, '127.0.0.1');
  // Tokens: 0.0.0.0 by default (auto), 127.0.0.1 when asked (pod).
  t.is((await host([AUTH])).QUIVER_REGISTRY_HOST, '0.0.0.0');
  t.is((await host([AUTH, { registry: { listen: 'cluster' } }])).QUIVER_REGISTRY_HOST, '0.0.0.0');
  t.is((await host([AUTH, { registry: { listen: 'pod' } }])).QUIVER_REGISTRY_HOST, '127.0.0.1');
  // Without tokens only an explicit insecure value opens it, and says so.
  const insecure = await host([{ registry: { insecure: true } }]);
  t.is(insecure.QUIVER_REGISTRY_HOST, '0.0.0.0');
  t.is(insecure.QUIVER_INSECURE_REGISTRY, 'true');
  t.regex(await notes({ values: [{ registry: { insecure: true } }] }), /WARNING: registry\.insecure is true/);
  t.regex(
    await renderError({ values: [{ registry: { listen: 'cluster' } }] }),
    /registry\.listen=cluster serves the registry plane to other pods, which needs API tokens/,
  );

  // The tokens: a Secret mounted read-only, the tokens file inside the mount, nothing in env.
  const r = await render({ values: [AUTH], args: ['--release', 'fraud'] });
  t.deepEqual(checkManifests(r), []);
  const config = serverConfig(r);
  t.is(config.QUIVER_AUTH_INFERENCE, 'true');
  const volume = podSpec(r).volumes!.find((v) => v.secret?.secretName === 'fraud-tokens')!;
  t.deepEqual(volume.secret!.items, [{ key: 'tokens.txt', path: 'tokens' }]);
  t.is(volume.secret!.defaultMode, 0o440);
  const mount = quiver(r).volumeMounts!.find((m) => m.name === volume.name)!;
  t.true(mount.readOnly);
  t.is(config.QUIVER_AUTH_TOKENS_FILE, `${mount.mountPath}/tokens`);
  t.false((quiver(r).env ?? []).some((e) => e.name.startsWith('QUIVER_AUTH')));
  t.false(r.text.includes('QUIVER_AUTH_TOKENS:'));
  // Without auth, no tokens file, no Secret volume.
  const plain = await defaults();
  t.is(serverConfig(plain).QUIVER_AUTH_TOKENS_FILE, undefined);
  t.false(podSpec(plain).volumes!.some((v) => v.secret !== undefined || v.projected !== undefined));

  const withTokens = await notes({ values: [AUTH] });
  t.regex(withTokens, /registry quiver\.default\.svc:50052/);
  t.regex(await notes(), /registry 127\.0\.0\.1:50052 inside each pod only \(quiver\.v1\.RegistryService; its REST routes on 8081\)/);
  t.regex(withTokens, /http:\/\/quiver\.default\.svc:8081 +\(the registry REST routes/);
});

test('NetworkPolicy: the registry port only from labelled pods and namespaces, the serving ports as configured', async (t) => {
  const np = one<INetworkPolicy>(await defaults(), 'NetworkPolicy');
  t.deepEqual(np.spec!.policyTypes, ['Ingress']);
  const rules = np.spec!.ingress!;
  // The registry plane's own port, 50052 (the container's `registry` port), not the gRPC port.
  const r = await defaults();
  const registryPort = quiver(r).ports!.find((p) => p.name === 'registry')!.containerPort;
  t.is(registryPort, 50052);
  const registryHttpPort = quiver(r).ports!.find((p) => p.name === 'registry-http')!.containerPort;
  t.is(registryHttpPort, 8081);
  const isRegistry = (p: { port?: number | string }): boolean =>
    [registryPort, registryHttpPort, 'registry', 'registry-http'].includes(p.port as number | string);
  const registry = rules.filter((rule) => rule.ports!.some(isRegistry));
  t.is(registry.length, 1);
  // Both registry ports (gRPC and REST) in one rule: the registry plane stays separable from inference.
  t.deepEqual(
    registry[0]!.ports!.map((p) => p.port),
    [50052, 8081],
  );
  t.false(registry[0]!.ports!.some((p) => p.port === 'grpc' || p.port === 50051));
  const peers = registry[0]!.from ?? [];
  t.true(peers.length > 0);
  for (const peer of peers) {
    // Each peer names labels: none is "every pod" or "every namespace".
    t.true(Object.keys(peer.podSelector?.matchLabels ?? {}).length > 0);
    if (peer.namespaceSelector !== undefined) t.true(Object.keys(peer.namespaceSelector.matchLabels ?? {}).length > 0);
    t.is(peer.ipBlock, undefined);
  }
  // No other rule opens the registry port, and no rule has no ports (which would open them all).
  for (const rule of rules.filter((x) => x !== registry[0])) {
    t.true((rule.ports ?? []).length > 0);
    t.false(rule.ports!.some(isRegistry));
  }
  // The same with the registry plane served to the cluster.
  const served = one<INetworkPolicy>(await scaled(), 'NetworkPolicy').spec!.ingress!;
  t.deepEqual(
    served.filter((rule) => rule.ports!.some(isRegistry)).map((rule) => [rule.ports!.map((p) => p.port), rule.from]),
    [[[50052, 8081], registry[0]!.from]],
  );

  const err = await renderError({ values: [{ networkPolicy: { registryFrom: [] } }] });
  t.regex(err, /networkPolicy\.registryFrom: must have at least 1 items/);
  const open = await render({ values: [{ networkPolicy: { servingFrom: [{ namespaceSelector: { matchLabels: { team: 'ml' } } }] } }] });
  const serving = one<INetworkPolicy>(open, 'NetworkPolicy').spec!.ingress!.find((rule) => rule.ports!.some((p) => p.port === 'grpc'))!;
  // The configured peers, and the release's `helm test` pod (so that `helm test` is not blocked).
  const testLabels = {
    'app.kubernetes.io/name': 'quiver-test',
    'app.kubernetes.io/instance': 'quiver',
    'app.kubernetes.io/component': 'test',
  };
  t.deepEqual(serving.from, [{ namespaceSelector: { matchLabels: { team: 'ml' } } }, { podSelector: { matchLabels: testLabels } }]);
  t.true(selects(testLabels, one<IPod>(open, 'Pod').metadata!.labels));
  // Only the test pod: not the serving pods' labels, not the registry rule.
  t.false(selects(testLabels, podLabels(open)));
  t.deepEqual(checkManifests(open), []);
});

test("the PrometheusRule's groups are the rules file's, and the dashboard ConfigMap holds the dashboard JSON", async (t) => {
  const r = await scaled();
  const rulesFile = parse(readFileSync(join(CHART, 'monitoring', 'quiver-alerts.rules.yml'), 'utf8')) as { groups: unknown };
  const rule = one<PrometheusRule>(r, 'PrometheusRule');
  t.deepEqual(rule.spec.groups, rulesFile.groups);
  t.is(rule.metadata.labels?.release, 'kube-prometheus-stack');

  const dashboardText = readFileSync(join(CHART, 'monitoring', 'quiver-dashboard.json'), 'utf8');
  for (const rendered of [r, await defaults()]) {
    const cm = one<IConfigMap>(rendered, 'ConfigMap', 'quiver-dashboard');
    t.is(cm.metadata!.labels!.grafana_dashboard, '1');
    const json = cm.data!['quiver-dashboard.json']!;
    t.is(json.trimEnd(), dashboardText.trimEnd());
    t.deepEqual(JSON.parse(json), JSON.parse(dashboardText));
  }
  const sm = one<ServiceMonitor>(r, 'ServiceMonitor');
  t.deepEqual(
    sm.spec.endpoints.map((e) => [e.port, e.path]),
    [['metrics', '/metrics']],
  );
  const off = await render({ values: [{ grafanaDashboard: { enabled: false } }] });
  t.is(all(off, 'ConfigMap').length, 1);
});

test('operator objects need the monitoring.coreos.com/v1 API, with a message that says so', async (t) => {
  const err = await renderError({ values: [SCALED] });
  t.regex(err, /needs the Prometheus Operator's CRDs \(monitoring\.coreos\.com\/v1/);
  t.regex(err, /--api-versions monitoring\.coreos\.com\/v1/);
});

test('a required value that is missing fails the render with a message naming it', async (t) => {
  const pg = await renderError({ values: [{ registry: { backend: 'postgres' } }] });
  t.regex(pg, /registry\.postgres\.existingSecret is required when registry\.backend is postgres/);
  const auth = await renderError({ values: [{ auth: { enabled: true } }] });
  t.regex(auth, /auth\.existingSecret is required when auth\.enabled is true/);
  const tracing = await renderError({ values: [{ tracing: { enabled: true } }] });
  t.regex(tracing, /tracing\.otlpEndpoint is required/);

  // Set, the Secret references appear (names may use templates, through tpl).
  const r = await render({
    values: [{ registry: { backend: 'postgres', postgres: { existingSecret: 'pg-{{ .Release.Namespace }}', secretKey: 'url' } } }],
    args: ['--namespace', 'ml'],
  });
  t.deepEqual(checkManifests(r, 'ml'), []);
  const env = quiver(r).env ?? [];
  t.deepEqual(env.find((e) => e.name === 'QUIVER_REGISTRY_URL')?.valueFrom?.secretKeyRef, { name: 'pg-ml', key: 'url' });
  const withAuth = await render({ values: [{ auth: { enabled: true, existingSecret: 'quiver-tokens' } }] });
  t.deepEqual(podSpec(withAuth).volumes!.find((v) => v.name === 'auth-tokens')?.secret, {
    secretName: 'quiver-tokens',
    defaultMode: 0o440,
    items: [{ key: 'tokens', path: 'tokens' }],
  });
  t.regex(
    await renderError({ values: [TLS, { tls: { existingSecret: '' } }] }),
    /tls\.existingSecret is required when tls\.enabled is true/,
  );
});

test('values.schema.json refuses wrong values, and the chart refuses unsafe combinations', async (t) => {
  t.regex(await renderError({ values: [{ replicaCount: 'three' }] }), /replicaCount: invalid type: expected integer, given string/);
  t.regex(await renderError({ values: [{ replicas: 3 }] }), /additional property "replicas" is not allowed/);
  t.regex(await renderError({ values: [{ securityContext: { runAsNonRoot: false } }] }), /securityContext\.runAsNonRoot must stay true/);
  t.regex(await renderError({ values: [{ registry: { backend: 'mysql' } }] }), /registry\.backend: must be one of \["sqlite","postgres"\]/);
  t.regex(await renderError({ values: [{ ports: { grpc: 70000 } }] }), /ports\.grpc: must be <= 65535/);
  t.regex(await renderError({ values: [{ config: { workers: 0 } }] }), /config\.workers: must be >= 1/);
  t.regex(
    await renderError({ values: [{ config: { grpcPort: 9000 } }] }),
    /config\.grpcPort: cannot be set: the chart sets it from ports\.grpc/,
  );
  t.regex(await renderError({ values: [{ config: { registryUrl: 'postgres://x' } }] }), /config\.registryUrl: cannot be set/);
  t.regex(
    await renderError({ values: [{ registry: { listen: 'everywhere' } }] }),
    /registry\.listen: must be one of \["auto","cluster","pod"\]/,
  );
  t.regex(await renderError({ values: [{ registry: { insecure: 'yes' } }] }), /registry\.insecure: invalid type: expected boolean/);
  t.regex(await renderError({ values: [{ auth: { inference: 'true' } }] }), /auth\.inference: invalid type: expected boolean/);
  t.regex(await renderError({ values: [{ auth: { tokens: 'ci registry:write abc' } }] }), /additional property "tokens" is not allowed/);
  t.regex(await renderError({ values: [{ tls: { cert: '-----BEGIN' } }] }), /additional property "cert" is not allowed/);
  t.regex(await renderError({ values: [{ probes: { execTimeoutSeconds: 1 } }] }), /probes\.execTimeoutSeconds: must be >= 2/);
  t.regex(await renderError({ values: [{ config: { trialMaxMemoryMb: 10 } }] }), /config\.trialMaxMemoryMb: must be >= 64/);
  // Tokens never go in values, under any name the server reads.
  t.regex(await renderError({ values: [{ config: { authTokens: 'ci registry:write 0123456789abcdef' } }] }), /tokens never go in values/);
  t.regex(
    await renderError({ values: [{ config: { auth_tokens: 'ci registry:write 0123456789abcdef' } }] }),
    /config: additional property "auth_tokens" is not allowed/,
  );
  t.regex(
    await renderError({ values: [{ extraEnv: [{ name: 'QUIVER_AUTH_TOKENS', value: 'ci registry:write 0123456789abcdef' }] }] }),
    /extraEnv QUIVER_AUTH_TOKENS cannot be set/,
  );
  // Combinations the server would refuse.
  t.regex(await renderError({ values: [{ auth: { inference: true } }] }), /auth\.inference needs auth\.enabled/);
  t.regex(
    await renderError({ values: [TLS, { tls: { clientAuth: true } }] }),
    /tls\.clientAuth needs tls\.enabled and tls\.clientCa\.enabled/,
  );
  t.regex(await renderError({ values: [{ tls: { clientCa: { enabled: true } } }] }), /tls\.clientCa\.enabled needs tls\.enabled/);
  t.regex(
    await renderError({ values: [{ persistence: { enabled: true }, replicaCount: 3 }] }),
    /registry\.backend=sqlite serves one pod, and replicaCount is 3: .*use registry\.backend=postgres/,
  );
  const PG = { registry: { backend: 'postgres', postgres: { existingSecret: 'pg' } } };
  t.regex(
    await renderError({ values: [PG, { persistence: { enabled: true }, replicaCount: 3 }] }),
    /persistence\.enabled with a ReadWriteOnce or ReadWriteOncePod volume allows one replica only/,
  );
  t.regex(await renderError({ args: ['--kube-version', 'v1.26.3'] }), /requires kubeVersion: >=1\.27\.0-0/);
});

test('server options: config keys are server options, numbers stay integers, changes roll the pods', async (t) => {
  const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as { config: Record<string, unknown> };
  const keys = new Set<string>(OPTION_DEFS.map((d) => d.key));
  for (const key of Object.keys(values.config)) t.true(keys.has(key), `config.${key} is not a server option`);

  const base = await defaults();
  const r = await render({ values: [{ config: { maxUploadBytes: 1073741824, driftPsiThreshold: 0.3, logLevel: 'debug' } }] });
  const config = serverConfig(r);
  t.is(config.QUIVER_MAX_UPLOAD_BYTES, '1073741824');
  t.is(config.QUIVER_DRIFT_PSI_THRESHOLD, '0.3');
  t.is(config.QUIVER_LOG_LEVEL, 'debug');
  t.is(config.QUIVER_WORKERS, '1');
  // Every option the chart does not set itself maps to the server's own variable name.
  const RESERVED = new Set([
    'grpcHost',
    'httpHost',
    'metricsHost',
    'grpcPort',
    'httpPort',
    'metricsPort',
    'registryPort',
    'registryHttpPort',
    'dataDir',
    'registryUrl',
    'registryHost',
    'insecureRegistry',
    'authTokens',
    'authTokensFile',
    'authInference',
    'tlsCert',
    'tlsKey',
    'tlsClientCa',
    'tlsClientAuth',
  ]);
  // A value the server accepts for each option (integers at their minimum).
  const sample = ({ kind, values, min }: (typeof OPTION_DEFS)[number]): unknown =>
    kind === 'bool'
      ? false
      : kind === 'int' || kind === 'port'
        ? Math.max(1, min ?? 1)
        : kind === 'number'
          ? 0.5
          : kind === 'models'
            ? 'a=/m/a.onnx'
            : (values?.[0] ?? '');
  const every = Object.fromEntries(OPTION_DEFS.filter((d) => !RESERVED.has(d.key)).map((d) => [d.key, sample(d)]));
  const everyConfig = serverConfig(await render({ values: [{ config: every }] }));
  for (const key of Object.keys(every)) t.is(everyConfig[envName(key)], String(every[key]), key);
  // What the chart sets itself cannot be overridden from config.* (in any spelling that maps to
  // the same variable) or extraEnv: the message names the value that sets it.
  for (const key of RESERVED) {
    const value = OPTION_DEFS.find((d) => d.key === key)!.kind === 'bool' ? true : /Host$/.test(key) ? '0.0.0.0' : '1';
    const err = await renderError({ values: [{ config: { [key]: value } }] });
    t.regex(err, new RegExp(`config\\.${key}: cannot be set: `), key);
  }
  // Other spellings of an option are no options: refused, never an ignored QUIVER_* variable.
  t.regex(
    await renderError({ values: [{ config: { registry_host: '0.0.0.0' } }] }),
    /config: additional property "registry_host" is not allowed/,
  );
  t.regex(
    await renderError({ values: [{ config: { InsecureRegistry: true } }] }),
    /config: additional property "InsecureRegistry" is not allowed/,
  );
  t.regex(
    await renderError({ values: [{ extraEnv: [{ name: 'QUIVER_REGISTRY_HOST', value: '0.0.0.0' }] }] }),
    /extraEnv QUIVER_REGISTRY_HOST cannot be set: the chart sets it from registry\.listen/,
  );
  t.regex(
    await renderError({ values: [{ extraEnv: [{ name: 'QUIVER_TLS_CERT', value: '/x.pem' }] }] }),
    /extraEnv QUIVER_TLS_CERT cannot be set/,
  );

  const checksum = (x: Rendered): string | undefined => deployment(x).spec!.template.metadata!.annotations!['checksum/config'];
  t.regex(checksum(base)!, /^[0-9a-f]{64}$/);
  t.not(checksum(r), checksum(base));
});

test('persistence: a PersistentVolumeClaim for the data directory, one pod at a time', async (t) => {
  const r = await render({ values: [{ persistence: { enabled: true, size: '20Gi', storageClass: 'fast' } }] });
  t.deepEqual(checkManifests(r), []);
  const pvc = one<IPersistentVolumeClaim>(r, 'PersistentVolumeClaim');
  t.is(pvc.spec!.resources!.requests!.storage, '20Gi');
  t.is(pvc.spec!.storageClassName, 'fast');
  const data = podSpec(r).volumes!.find((v) => v.name === 'data')!;
  t.is(data.persistentVolumeClaim?.claimName, pvc.metadata!.name);
  t.is(deployment(r).spec!.strategy!.type, 'Recreate');
  const existing = await render({ values: [{ persistence: { enabled: true, existingClaim: 'models' } }] });
  t.is(all(existing, 'PersistentVolumeClaim').length, 0);
  t.is(podSpec(existing).volumes!.find((v) => v.name === 'data')!.persistentVolumeClaim?.claimName, 'models');
});

test('names follow the release, the namespace and the image follow the values and the chart', async (t) => {
  const r = await render({
    args: ['--release', 'fraud', '--namespace', 'ml'],
    values: [{ image: { repository: 'registry.example.com/quiver' } }],
  });
  t.deepEqual(checkManifests(r, 'ml'), []);
  t.is(deployment(r).metadata!.name, 'fraud-quiver');
  const chart = parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as { appVersion: string; version: string };
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  t.is(chart.appVersion, pkg.version);
  t.is(quiver(r).image, `registry.example.com/quiver:${chart.appVersion}`);
  const digest = `sha256:${'a'.repeat(64)}`;
  const pinned = await render({ values: [{ image: { digest } }] });
  t.is(quiver(pinned).image, `quiver@${digest}`);
  // The helm test pod checks the Service's gRPC health.
  const testPod = one<IPod>(r, 'Pod');
  t.is(testPod.metadata!.annotations!['helm.sh/hook'], 'test');
  t.deepEqual(testPod.spec!.containers[0]!.args, ['health', '--address', 'fraud-quiver:50051', '--service', 'quiver.v1.PredictionService']);
});

test('NOTES.txt renders, and says when the registry lives in an emptyDir', async (t) => {
  const plain = await notes();
  t.regex(plain, /kubectl -n default port-forward svc\/quiver 50051 8080/);
  t.notRegex(plain, /WARNING/);
  t.regex(await notes({ values: [SCALED], args: OPERATOR }), /dns:\/\/\/quiver-headless\.default\.svc:50051/);
  // Several pods with the SQLite registry no longer render at all (see the SQLite test).
  t.regex(
    await renderError({ values: [{ replicaCount: 3 }] }),
    /registry\.backend=sqlite serves one pod, and replicaCount is 3: every pod would have a registry of its own/,
  );
  t.notRegex(await notes({ values: [{ replicaCount: 3, config: { registry: false } }] }), /WARNING|NOTE: the registry/);
  // The registry's REST routes on the serving port escape the registry's NetworkPolicy rule.
  t.regex(await notes({ values: [{ config: { registryRestOnHttpPort: true } }] }), /WARNING: config\.registryRestOnHttpPort is true/);
  t.notRegex(await notes({ values: [{ config: { registryRestOnHttpPort: false } }] }), /registryRestOnHttpPort/);
});

test("the renderer: Helm's built-ins and values semantics on a chart of its own", async (t) => {
  const chart = join(workDir, 'fixture');
  mkdirSync(join(chart, 'templates'), { recursive: true });
  mkdirSync(join(chart, 'files'));
  writeFileSync(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: fixture\nversion: 1.2.3\nappVersion: 4.50\n');
  writeFileSync(join(chart, 'values.yaml'), 'a: {b: 1, c: keep, d: drop}\nbig: 1000000\nname: "{{ .Release.Name }}-x"\nlist: [x, y]\n');
  writeFileSync(join(chart, 'files', 'data.yml'), 'k: [1, 2]\n');
  writeFileSync(join(chart, '.helmignore'), '*.skip\n');
  writeFileSync(join(chart, 'files', 'ignored.skip'), 'no\n');
  writeFileSync(join(chart, 'templates', '_h.tpl'), '{{- define "fx.n" -}}{{ .Chart.Name }}-{{ .Release.Name }}{{- end }}');
  writeFileSync(
    join(chart, 'templates', 'cm.yaml'),
    [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata:',
      '  name: {{ include "fx.n" . }}',
      '  namespace: {{ .Release.Namespace }}',
      'data:',
      '  chart: {{ printf "%s %s %s" .Chart.Name .Chart.Version .Chart.AppVersion | quote }}',
      '  service: {{ .Release.Service }}',
      '  tpl: {{ tpl .Values.name . }}',
      '  big: {{ .Values.big | toJson | quote }}',
      '  a: {{ toYaml .Values.a | quote }}',
      '  file: {{ (.Files.Get "files/data.yml" | fromYaml).k | toJson | quote }}',
      '  ignored: {{ .Files.Get "files/ignored.skip" | quote }}',
      '  broken: {{ hasKey (fromYaml "a: [") "Error" | quote }}',
      '  has: {{ .Capabilities.APIVersions.Has "apps/v1/Deployment" }}-{{ .Capabilities.APIVersions.Has "x.io/v1" }}',
      '  kube: {{ .Capabilities.KubeVersion.Version }}',
      '  env: {{ .Values.list | toJson | quote }}',
      '  template: {{ .Template.Name }}',
      '  req: {{ required "need .Values.a.c" .Values.a.c }}',
    ].join('\n'),
  );
  const out = async (...args: string[]): Promise<Record<string, string>> => {
    const { stdout } = await execFileP(renderer, [...args, chart]);
    return (parse(stdout) as { data: Record<string, string> }).data;
  };
  const data = await out('--release', 'rel', '--namespace', 'ns', '-f', valuesFile({ a: { d: null, e: 2 }, list: ['z'] }));
  t.deepEqual(data, {
    chart: 'fixture 1.2.3 4.50',
    service: 'Helm',
    tpl: 'rel-x',
    big: '1000000',
    a: 'b: 1\nc: keep\ne: 2',
    file: '[1,2]',
    ignored: '',
    broken: 'true',
    has: 'true-false',
    kube: 'v1.30.0',
    env: '["z"]',
    template: 'fixture/templates/cm.yaml',
    req: 'keep',
  });
  t.is((await out('--api-versions', 'x.io/v1', '--kube-version', 'v1.29.1')).has, 'true-true');
  const { stderr } = await execFileP(renderer, ['-f', valuesFile({ a: { c: '' } }), chart]).catch((e: { stderr: string }) => e);
  t.regex(stderr, /error calling required: need \.Values\.a\.c/);
  // An unknown JSON Schema keyword is an error, never silently skipped.
  writeFileSync(join(chart, 'values.schema.json'), JSON.stringify({ type: 'object', propertyNames: { pattern: '^[a-z]+$' } }));
  const bad = await execFileP(renderer, [chart]).catch((e: { stderr: string }) => e);
  t.regex(bad.stderr, /unsupported keyword "propertyNames"/);
});

/** The registry in PostgreSQL: several pods share it. */
const PG = { registry: { backend: 'postgres', postgres: { existingSecret: 'pg' } } };

test('the SQLite registry serves one pod: several replicas, the HPA or a shared volume fail the render, naming registry.backend=postgres', async (t) => {
  const refused: [object, RegExp][] = [
    // Three pods sharing one WAL SQLite file over a network filesystem.
    [{ replicaCount: 3, persistence: { enabled: true, accessModes: ['ReadWriteMany'] } }, /replicaCount is 3/],
    // A registry of its own in each pod's emptyDir.
    [{ replicaCount: 2 }, /replicaCount is 2: every pod would have a registry of its own/],
    [{ autoscaling: { enabled: true } }, /autoscaling\.enabled runs 3 to 10: every pod would have a registry of its own/],
    [{ autoscaling: { enabled: true, minReplicas: 1, maxReplicas: 1 } }, /autoscaling\.enabled runs 1 to 1/],
    // One pod, but a volume others may mount too.
    [
      { persistence: { enabled: true, accessModes: ['ReadWriteMany'] } },
      /cannot live on a shared volume \(persistence\.accessModes ReadWriteMany\)/,
    ],
    [{ persistence: { enabled: true, accessModes: ['ReadOnlyMany'] } }, /cannot live on a shared volume/],
    // A ReadWriteOncePod volume cannot hold several pods either.
    [{ replicaCount: 3, persistence: { enabled: true, accessModes: ['ReadWriteOncePod'] } }, /replicaCount is 3/],
  ];
  for (const [values, message] of refused) {
    const err = await renderError({ values: [values] });
    t.regex(err, message, JSON.stringify(values));
    t.regex(err, /use registry\.backend=postgres/, JSON.stringify(values));
  }
  // A ReadWriteOncePod volume on one pod rolls with Recreate: a surge pod could never mount it.
  const rwop = await render({ values: [{ persistence: { enabled: true, accessModes: ['ReadWriteOncePod'] } }] });
  t.deepEqual(checkManifests(rwop), []);
  t.is(deployment(rwop).spec!.strategy!.type, 'Recreate');
  t.deepEqual(one<IPersistentVolumeClaim>(rwop, 'PersistentVolumeClaim').spec!.accessModes, ['ReadWriteOncePod']);
  // PostgreSQL shares one registry: several replicas and the HPA render (a RWOP volume with
  // several replicas still does not); so do several pods with no registry at all.
  for (const values of [
    [PG, { replicaCount: 3 }],
    [PG, { autoscaling: { enabled: true } }],
    [{ replicaCount: 3, config: { registry: false } }],
  ]) {
    const r = await render({ values });
    t.deepEqual(checkManifests(r), [], JSON.stringify(values));
    t.is(deployment(r).spec!.strategy!.type, 'RollingUpdate');
  }
  t.regex(
    await renderError({ values: [PG, { replicaCount: 2, persistence: { enabled: true, accessModes: ['ReadWriteOncePod'] } }] }),
    /ReadWriteOnce or ReadWriteOncePod volume allows one replica only/,
  );
});

test('config: values.schema.json is generated from the options table, refuses unknown options and the bind hosts', async (t) => {
  // The committed schema is what the generator makes of the table today.
  const committed = readFileSync(join(CHART, 'values.schema.json'), 'utf8');
  t.is(committed, await chartSchema(committed), 'values.schema.json is out of date: run `npm run gen:chart-schema`');
  const schema = (JSON.parse(committed) as { properties: { config: ReturnType<typeof configSchema> } }).properties.config;
  const properties = schema.properties as Record<string, { not?: { description: string }; type?: string }>;
  t.false(schema.additionalProperties);
  t.deepEqual(Object.keys(properties).sort(), OPTION_DEFS.map((d) => d.key as string).sort());
  for (const def of OPTION_DEFS) t.is(properties[def.key]!.not !== undefined, def.key in RESERVED, def.key);
  // A table with one more option makes a schema with one more property.
  const more = configSchema([
    ...OPTION_DEFS,
    { key: 'newOption' as never, kind: 'int', min: 1, max: 9, default: () => 1, doc: 'new', unit: 'ms' },
  ]);
  t.deepEqual((more.properties as Record<string, unknown>).newOption, { type: 'integer', minimum: 1, maximum: 9, description: 'new (ms)' });

  // A misspelt option fails the render instead of becoming an ignored QUIVER_* variable.
  t.regex(await renderError({ values: [{ config: { maxBatchRow: 64 } }] }), /config: additional property "maxBatchRow" is not allowed/);
  t.regex(await renderError({ values: [{ config: { workerz: 2 } }] }), /config: additional property "workerz" is not allowed/);
  // The bind hosts are the chart's: 127.0.0.1 would make probes that can never pass.
  for (const key of ['grpcHost', 'httpHost', 'metricsHost', 'registryHost']) {
    t.regex(
      await renderError({ values: [{ config: { [key]: '127.0.0.1' } }] }),
      new RegExp(`config\\.${key}: cannot be set: the chart`),
      key,
    );
  }
  t.regex(
    await renderError({ values: [{ extraEnv: [{ name: 'QUIVER_GRPC_HOST', value: '127.0.0.1' }] }] }),
    /extraEnv QUIVER_GRPC_HOST cannot be set/,
  );
  // Types, enums and bounds come from the table.
  t.regex(await renderError({ values: [{ config: { logLevel: 'verbose' } }] }), /config\.logLevel: must be one of \["fatal"/);
  t.regex(await renderError({ values: [{ config: { maxQueueWaitMs: 700000 } }] }), /config\.maxQueueWaitMs: must be <= 600000/);
  t.regex(
    await renderError({ values: [{ config: { rejectNonFinite: 'no' } }] }),
    /config\.rejectNonFinite: invalid type: expected boolean/,
  );
  t.regex(await renderError({ values: [{ config: { driftKsAlpha: 0.9 } }] }), /config\.driftKsAlpha: must be <= 0\.5/);
  t.regex(
    await renderError({ values: [{ config: { registryPort: 1 } }] }),
    /config\.registryPort: cannot be set: the chart sets it from ports\.registry/,
  );
  t.regex(
    await renderError({ values: [{ config: { registryHttpPort: 1 } }] }),
    /config\.registryHttpPort: cannot be set: the chart sets it from ports\.registryHttp/,
  );
});

test('terminationGracePeriodSeconds is derived from the drain, and a shorter one fails the render', async (t) => {
  // preStop 5 s + shutdownGraceMs 10 s + 5 s.
  t.is(podSpec(await defaults()).terminationGracePeriodSeconds, 20);
  const long = await render({ values: [{ config: { shutdownGraceMs: 60000 }, lifecycle: { preStopSleepSeconds: 10 } }] });
  t.deepEqual(checkManifests(long), []);
  t.is(podSpec(long).terminationGracePeriodSeconds, 75);
  const short = await render({ values: [{ config: { shutdownGraceMs: 1500 }, lifecycle: { preStopSleepSeconds: 0 } }] });
  t.is(podSpec(short).terminationGracePeriodSeconds, 7);
  t.is(podSpec(await render({ values: [{ config: { shutdownGraceMs: 0 } }] })).terminationGracePeriodSeconds, 10);
  t.is(podSpec(await render({ values: [{ terminationGracePeriodSeconds: 120 }] })).terminationGracePeriodSeconds, 120);
  // The old default, 30 s, with a 60 s drain: the kubelet would kill calls still draining.
  t.regex(
    await renderError({ values: [{ terminationGracePeriodSeconds: 30, config: { shutdownGraceMs: 60000 } }] }),
    /terminationGracePeriodSeconds 30 is shorter than the drain: lifecycle\.preStopSleepSeconds \(5\) \+ config\.shutdownGraceMs \(60 s\) \+ 5 s = 70/,
  );
});

test('several pods: maxConnectionAgeMs defaults to 5 minutes so long-lived gRPC clients reach new replicas, unless set', async (t) => {
  const age = async (values: object[]): Promise<string | undefined> => serverConfig(await render({ values })).QUIVER_MAX_CONNECTION_AGE_MS;
  t.is(await age([PG, { autoscaling: { enabled: true } }]), '300000');
  t.is(await age([PG, { replicaCount: 3 }]), '300000');
  // Set by the user (0 included), it stays.
  t.is(await age([PG, { autoscaling: { enabled: true }, config: { maxConnectionAgeMs: 0 } }]), '0');
  t.is(await age([PG, { autoscaling: { enabled: true }, config: { maxConnectionAgeMs: 60000 } }]), '60000');
  // One pod: the server's default (never).
  t.is(await age([]), undefined);
  const r = await render({ values: [PG, { autoscaling: { enabled: true } }] });
  t.is(Object.keys(serverConfig(r)).filter((k) => k === 'QUIVER_MAX_CONNECTION_AGE_MS').length, 1);
});

test('appProtocol: h2c on the gRPC ports without TLS only, https with TLS', async (t) => {
  const protocols = (r: Rendered, name: string): Record<string, string | undefined> =>
    Object.fromEntries(one<IService>(r, 'Service', name).spec!.ports!.map((p) => [p.name, p.appProtocol]));
  const headless = { service: { headless: { enabled: true } } };
  const plain = await render({ values: [headless] });
  t.deepEqual(protocols(plain, 'quiver'), {
    grpc: 'kubernetes.io/h2c',
    http: 'http',
    metrics: 'http',
    registry: 'kubernetes.io/h2c',
    'registry-http': 'http',
  });
  t.deepEqual(protocols(plain, 'quiver-headless'), { grpc: 'kubernetes.io/h2c' });
  const tls = await render({ values: [TLS, headless] });
  t.deepEqual(checkManifests(tls), []);
  t.deepEqual(protocols(tls, 'quiver'), { grpc: 'https', http: 'https', metrics: 'http', registry: 'https', 'registry-http': 'https' });
  t.deepEqual(protocols(tls, 'quiver-headless'), { grpc: 'https' });
});

test('the `helm test` pod pulls with imagePullSecrets and the NetworkPolicy admits it when servingFrom is set', async (t) => {
  const r = await render({
    values: [
      { imagePullSecrets: [{ name: 'regcred' }], networkPolicy: { servingFrom: [{ podSelector: { matchLabels: { role: 'client' } } }] } },
    ],
  });
  t.deepEqual(checkManifests(r), []);
  const testPod = one<IPod>(r, 'Pod');
  t.deepEqual(testPod.spec!.imagePullSecrets, [{ name: 'regcred' }]);
  t.deepEqual(podSpec(r).imagePullSecrets, [{ name: 'regcred' }]);
  const serving = one<INetworkPolicy>(r, 'NetworkPolicy').spec!.ingress!.find((rule) => rule.ports!.some((p) => p.port === 'grpc'))!;
  t.true(serving.from!.some((peer) => selects(peer.podSelector?.matchLabels, testPod.metadata!.labels)));
  // The registry plane still admits only registryFrom.
  const registry = one<INetworkPolicy>(r, 'NetworkPolicy').spec!.ingress!.find((rule) => rule.ports!.some((p) => p.port === 50052))!;
  t.false(registry.from!.some((peer) => selects(peer.podSelector?.matchLabels, testPod.metadata!.labels)));
});

test('autoscaling on load: Pods metrics for queue wait and in-flight work (prometheus-adapter), or a KEDA ScaledObject', async (t) => {
  const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as {
    autoscaling: Record<string, { metricName: string; targetAverageValue: string }>;
  };
  const load = {
    autoscaling: { enabled: true, targetCPUUtilizationPercentage: 0, queueWait: { enabled: true }, inFlight: { enabled: true } },
  };
  const r = await render({ values: [PG, load] });
  t.deepEqual(checkManifests(r), []);
  const hpa = one<IHorizontalPodAutoscaler>(r, 'HorizontalPodAutoscaler');
  t.deepEqual(hpa.spec!.metrics, [
    { type: 'Pods', pods: { metric: { name: 'quiver_queue_wait_seconds_mean' }, target: { type: 'AverageValue', averageValue: '50m' } } },
    { type: 'Pods', pods: { metric: { name: 'quiver_pool_utilization' }, target: { type: 'AverageValue', averageValue: '700m' } } },
  ]);
  // With CPU too (the default target), CPU comes first.
  const both = await render({ values: [PG, { autoscaling: { enabled: true, queueWait: { enabled: true } } }] });
  t.deepEqual(
    one<IHorizontalPodAutoscaler>(both, 'HorizontalPodAutoscaler').spec!.metrics!.map((m) => m.type),
    ['Resource', 'Pods'],
  );
  // The metric names are those the chart's prometheus-adapter rules serve.
  const adapter = parse(readFileSync(join(CHART, 'monitoring', 'prometheus-adapter-rules.yaml'), 'utf8')) as {
    rules: { custom: { name: { as: string } }[] };
  };
  const served = adapter.rules.custom.map((rule) => rule.name.as);
  for (const key of ['queueWait', 'inFlight']) t.true(served.includes(values.autoscaling[key]!.metricName), key);
  t.regex(
    await renderError({ values: [PG, { autoscaling: { enabled: true, targetCPUUtilizationPercentage: 0 } }] }),
    /autoscaling\.enabled needs a metric/,
  );

  // KEDA: a ScaledObject instead of the HPA, querying Prometheus for this release's pods.
  const KEDA = ['--api-versions', 'keda.sh/v1alpha1'];
  const keda = {
    autoscaling: {
      queueWait: { enabled: true },
      inFlight: { enabled: true },
      keda: { enabled: true, prometheusAddress: 'http://prometheus-operated.monitoring.svc:9090' },
    },
  };
  const k = await render({ values: [SCALED, keda], args: [...OPERATOR, ...KEDA, '--namespace', 'ml', '--release', 'fraud'] });
  t.deepEqual(checkManifests(k, 'ml'), []);
  t.is(all(k, 'HorizontalPodAutoscaler').length, 0);
  const so = one<ScaledObject>(k, 'ScaledObject');
  t.is(so.spec.scaleTargetRef.name, 'fraud-quiver');
  t.deepEqual([so.spec.minReplicaCount, so.spec.maxReplicaCount], [3, 12]);
  t.deepEqual(
    so.spec.triggers.map((tr) => [tr.type, tr.metricType, tr.metadata.threshold ?? tr.metadata.value]),
    [
      ['cpu', 'Utilization', '60'],
      ['prometheus', 'AverageValue', '0.05'],
      ['prometheus', 'AverageValue', '0.7'],
    ],
  );
  const queries = so.spec.triggers.filter((tr) => tr.type === 'prometheus').map((tr) => tr.metadata.query!);
  t.regex(queries[0]!, /quiver_queue_wait_seconds_sum\{namespace="ml",service="fraud-quiver"\}/);
  t.regex(queries[1]!, /quiver_pool_utilization\{namespace="ml",service="fraud-quiver"\}/);
  t.regex(await renderError({ values: [SCALED, keda], args: OPERATOR }), /autoscaling\.keda\.enabled needs KEDA's CRDs/);
  t.regex(
    await renderError({ values: [SCALED, keda, { autoscaling: { keda: { prometheusAddress: '' } } }], args: [...OPERATOR, ...KEDA] }),
    /autoscaling\.keda\.prometheusAddress is required/,
  );
  // KEDA does not lift the SQLite rule.
  t.regex(await renderError({ values: [keda, { autoscaling: { enabled: true } }], args: KEDA }), /registry\.backend=sqlite serves one pod/);
});

test('ephemeral storage: the artifact cache and /tmp are requested and limited', async (t) => {
  for (const r of [await defaults(), await scaled()]) {
    const resources = quiver(r).resources!;
    t.truthy(resources.requests!['ephemeral-storage']);
    t.truthy(resources.limits!['ephemeral-storage']);
    const emptyDirs = podSpec(r).volumes!.filter((v) => v.emptyDir !== undefined);
    const total = emptyDirs.reduce((sum, v) => sum + bytes(String(v.emptyDir!.sizeLimit)), 0);
    t.true(bytes(String(resources.limits!['ephemeral-storage'])) >= total);
    t.true(bytes(String(resources.requests!['ephemeral-storage'])) <= bytes(String(resources.limits!['ephemeral-storage'])));
  }
});

test('docs/deployment.md documents deploying (Docker, compose, Helm, the values, scaling) and the chart README points at it', (t) => {
  const section = readFileSync(join(ROOT, 'docs', 'deployment.md'), 'utf8');
  for (const heading of [
    '## The container image',
    '## The local stack: docker compose',
    '## Kubernetes: the Helm chart',
    '### The values that matter',
    '### Scaling guidance',
  ])
    t.true(section.includes(heading), heading);
  // Every value the table names is a value the chart has.
  const values = parse(readFileSync(join(ROOT, 'charts', 'quiver', 'values.yaml'), 'utf8')) as Record<string, unknown>;
  for (const m of section.matchAll(/^\| `([a-zA-Z]+)[.`]/gm)) t.true(m[1]! in values, `values.yaml has ${m[1]}`);
  const chartReadme = readFileSync(join(ROOT, 'charts', 'README.md'), 'utf8');
  t.regex(chartReadme, /charts\/quiver|`quiver\/`/);
  t.regex(chartReadme, /docs\/deployment\.md/);
});
