/**
 * The registry as a state machine (issue 7, "bad input, everywhere"): fast-check runs random
 * sequences of commands (upload a version; transition to Staging/Production/Archived/None with
 * and without archive_existing; roll back to an older version; set and delete aliases; delete a
 * version; close and reopen the registry; requests with bad names or versions) against the
 * Registry library, embedded (SQLite) and on PostgreSQL, next to a plain model of what each
 * command must do. After every command:
 * - at most one Production (and one Staging) version per model;
 * - the stage view agrees with the aliases and the archived flag, version by version, and the
 *   model's alias map agrees with every version's alias list;
 * - the audit log has exactly one row per successful write (two for a model's first upload:
 *   the implicit create_model) and none for a refused command, whose row names the action;
 * - refused commands change nothing: the model stays equal to the registry;
 * - every version's artifact is still there and verifies against its hash.
 */
import test from 'ava';
import fc from 'fast-check';

import { QuiverError } from '../src/core/errors.js';
import { Registry } from '../src/registry/registry.js';
import type { StageName, VersionRecord } from '../src/registry/types.js';
import { configureFuzz } from './helpers/fuzz.js';
import { POSTGRES } from './helpers/backends.js';
import { demoModel, sumModel, tmp } from './helpers/fixtures.js';

configureFuzz();

const ACTOR = 'fuzz';
const KEYS = ['a', 'b'] as const;
type Key = (typeof KEYS)[number];
const STAGES: readonly StageName[] = ['None', 'Staging', 'Production', 'Archived'];
/** Three distinct artifacts (a repeat upload stores the same bytes under the same hash). */
const ARTIFACTS: readonly Uint8Array[] = [demoModel(), sumModel(1), sumModel(2)];

// ---- The model ----

interface VersionState {
  archived: boolean;
  description: string;
  artifact: number;
}

interface ModelState {
  exists: boolean;
  versions: Map<number, VersionState>;
  aliases: Map<string, number>;
  next: number;
  audits: number;
  /** The action of the newest audit row, as the last successful write recorded it. */
  lastAction: string | undefined;
}

type Model = Record<Key, ModelState>;

const emptyModel = (): Model => ({
  a: { exists: false, versions: new Map(), aliases: new Map(), next: 1, audits: 0, lastAction: undefined },
  b: { exists: false, versions: new Map(), aliases: new Map(), next: 1, audits: 0, lastAction: undefined },
});

/** The stage view, decided from the model: the reserved aliases first, then the archived flag. */
function stageOf(m: ModelState, version: number): StageName {
  const v = m.versions.get(version) as VersionState;
  const aliases = [...m.aliases].filter(([, x]) => x === version).map(([a]) => a);
  if (aliases.includes('production')) return 'Production';
  if (aliases.includes('staging')) return 'Staging';
  return v.archived ? 'Archived' : 'None';
}

// ---- The real system ----

interface Real {
  registry: Registry;
  /** Reopens the registry on the same storage. */
  reopen(): Promise<Registry>;
  /** The registered name behind a model key (unique per run, so runs can share one database). */
  name(key: Key): string;
}

type Expected = { ok: true } | { ok: false; code: QuiverError['code'] };

async function attempt<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; err: unknown }> {
  try {
    return { ok: true, value: await p };
  } catch (err) {
    return { ok: false, err };
  }
}

/** Runs a registry call and checks it succeeded or failed as the model says; returns its value on success. */
async function expectOutcome<T>(what: string, expected: Expected, p: Promise<T>): Promise<T | undefined> {
  const got = await attempt(p);
  if (expected.ok) {
    if (!got.ok) throw new Error(`${what}: expected success, got ${String(got.err)}`);
    return got.value;
  }
  if (got.ok) throw new Error(`${what}: expected ${expected.code}, but it succeeded`);
  if (!(got.err instanceof QuiverError) || got.err.code !== expected.code) {
    throw new Error(`${what}: expected ${expected.code}, got ${got.err instanceof QuiverError ? got.err.code : String(got.err)}`);
  }
  return undefined;
}

/** Every invariant, comparing the registry with the model. */
async function verify(model: Model, real: Real, after: string): Promise<void> {
  const fail = (msg: string): never => {
    throw new Error(`after ${after}: ${msg}`);
  };
  for (const key of KEYS) {
    const m = model[key];
    const name = real.name(key);
    const got = await attempt(real.registry.getModel(name));
    if (!m.exists) {
      if (got.ok) fail(`${name} exists but the model has none`);
      continue;
    }
    if (!got.ok) return fail(`${name}: ${String(got.err)}`);
    const rec = got.value;
    const versions = (await real.registry.listVersions(name, undefined, 0, '')).items;
    const want = [...m.versions.keys()].sort((x, y) => x - y);
    if (JSON.stringify(versions.map((v) => v.version)) !== JSON.stringify(want))
      fail(`${name} has versions ${versions.map((v) => v.version).join(',')}, the model ${want.join(',')}`);
    if (rec.latestVersion !== (want.at(-1) ?? 0)) fail(`${name}: latest version ${rec.latestVersion}, expected ${want.at(-1) ?? 0}`);
    if (JSON.stringify(Object.entries(rec.aliases).sort()) !== JSON.stringify([...m.aliases].sort()))
      fail(`${name}: aliases ${JSON.stringify(rec.aliases)}, expected ${JSON.stringify(Object.fromEntries(m.aliases))}`);
    const byStage = new Map<StageName, VersionRecord[]>();
    for (const v of versions) {
      const s = m.versions.get(v.version) as VersionState;
      const aliases = [...m.aliases]
        .filter(([, x]) => x === v.version)
        .map(([a]) => a)
        .sort();
      if (JSON.stringify(v.aliases) !== JSON.stringify(aliases))
        fail(`${name} v${v.version}: aliases ${v.aliases.join(',')}, expected ${aliases.join(',')}`);
      if (v.archived !== s.archived) fail(`${name} v${v.version}: archived ${v.archived}, expected ${s.archived}`);
      if (v.stage !== stageOf(m, v.version)) fail(`${name} v${v.version}: stage ${v.stage}, expected ${stageOf(m, v.version)}`);
      if (v.description !== s.description) fail(`${name} v${v.version}: description ${JSON.stringify(v.description)}`);
      byStage.set(v.stage, [...(byStage.get(v.stage) ?? []), v]);
      // The artifact is intact (a refused delete removed nothing; a shared one survives its sibling's deletion).
      const { bytes } = await real.registry.artifact(name, String(v.version));
      if (!bytes.equals(Buffer.from(ARTIFACTS[s.artifact] as Uint8Array))) fail(`${name} v${v.version}: the artifact changed`);
    }
    for (const stage of ['Production', 'Staging'] as const) {
      if ((byStage.get(stage)?.length ?? 0) > 1) fail(`${name}: ${byStage.get(stage)?.length} versions in ${stage}`);
      const filtered = (await real.registry.listVersions(name, stage, 0, '')).items;
      if (filtered.length !== (byStage.get(stage)?.length ?? 0)) fail(`${name}: listVersions(${stage}) gave ${filtered.length}`);
    }
    const audit = (await real.registry.auditLog(name, 1000, '')).items;
    if (audit.length !== m.audits) fail(`${name}: ${audit.length} audit rows, expected ${m.audits}`);
    if (audit.some((r) => r.modelName !== name || r.actor !== ACTOR)) fail(`${name}: an audit row for another model or actor`);
    if (m.lastAction !== undefined && audit.at(-1)?.action !== m.lastAction)
      fail(`${name}: newest audit row ${audit.at(-1)?.action}, expected ${m.lastAction}`);
  }
}

// ---- Version picks: an existing version, one that does not exist, or not a version number ----

type Pick = { kind: 'existing'; index: number } | { kind: 'missing' } | { kind: 'invalid'; value: number };

const pick: fc.Arbitrary<Pick> = fc.oneof(
  { arbitrary: fc.nat({ max: 20 }).map((index) => ({ kind: 'existing' as const, index })), weight: 8 },
  { arbitrary: fc.constant({ kind: 'missing' as const }), weight: 1 },
  { arbitrary: fc.constantFrom(0, -1, 1.5).map((value) => ({ kind: 'invalid' as const, value })), weight: 1 },
);

function resolvePick(m: ModelState, p: Pick): number {
  if (p.kind === 'invalid') return p.value;
  const versions = [...m.versions.keys()].sort((x, y) => x - y);
  if (p.kind === 'missing' || versions.length === 0) return m.next + 7;
  return versions[p.index % versions.length] as number;
}

const showPick = (p: Pick): string => (p.kind === 'existing' ? `#${p.index}` : p.kind === 'missing' ? 'missing' : String(p.value));

/** NOT_FOUND or INVALID_ARGUMENT for a version that cannot be used; undefined when it can. */
function versionProblem(m: ModelState, version: number): Expected | undefined {
  if (!Number.isInteger(version) || version < 1) return { ok: false, code: 'QUIVER_ERR_INVALID_ARGUMENT' };
  if (!m.exists || !m.versions.has(version)) return { ok: false, code: 'QUIVER_ERR_NOT_FOUND' };
  return undefined;
}

// ---- Commands ----

type Cmd = fc.AsyncCommand<Model, Real>;

class Upload implements Cmd {
  constructor(
    readonly key: Key,
    readonly artifact: number,
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const m = model[this.key];
    const bytes = ARTIFACTS[this.artifact] as Uint8Array;
    const v = (await expectOutcome(
      this.toString(),
      { ok: true },
      real.registry.createVersion(
        { modelName: real.name(this.key), description: '', tags: {}, lineage: undefined, expectedSha256: '' },
        (async function* () {
          yield bytes;
        })(),
        ACTOR,
      ),
    )) as VersionRecord;
    if (v.version !== m.next || v.stage !== 'None')
      throw new Error(`${this.toString()}: got v${v.version} ${v.stage}, expected v${m.next} None`);
    m.audits += m.exists ? 1 : 2;
    m.exists = true;
    m.versions.set(m.next, { archived: false, description: '', artifact: this.artifact });
    m.next++;
    m.lastAction = 'create_version';
    await verify(model, real, this.toString());
  }
  toString = (): string => `upload(${this.key}, artifact ${this.artifact})`;
}

class Transition implements Cmd {
  constructor(
    readonly key: Key,
    readonly target: Pick,
    readonly stage: StageName,
    readonly archiveExisting: boolean,
    readonly description: string | undefined,
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const m = model[this.key];
    const version = resolvePick(m, this.target);
    const what = `${this.toString()} -> v${version}`;
    const expected = versionProblem(m, version) ?? { ok: true };
    const v = await expectOutcome(
      what,
      expected,
      real.registry.transitionStage(real.name(this.key), version, this.stage, this.archiveExisting, this.description, ACTOR),
    );
    if (v !== undefined) {
      applyTransition(m, version, this.stage, this.archiveExisting, this.description);
      if (v.stage !== this.stage) throw new Error(`${what}: the answer says ${v.stage}`);
    }
    await verify(model, real, what);
  }
  toString = (): string =>
    `transition(${this.key}, ${showPick(this.target)}, ${this.stage}, archive_existing=${this.archiveExisting}${this.description === undefined ? '' : `, ${JSON.stringify(this.description)}`})`;
}

/** What a successful transition does, per the registry's documented semantics (stages are a view over aliases). */
function applyTransition(
  m: ModelState,
  version: number,
  stage: StageName,
  archiveExisting: boolean,
  description: string | undefined,
): void {
  const v = m.versions.get(version) as VersionState;
  const dropStageAliases = (): void => {
    for (const a of ['production', 'staging']) if (m.aliases.get(a) === version) m.aliases.delete(a);
  };
  if (stage === 'Production' || stage === 'Staging') {
    const alias = stage.toLowerCase();
    const holder = m.aliases.get(alias);
    dropStageAliases();
    m.aliases.set(alias, version);
    v.archived = false;
    if (archiveExisting && holder !== undefined && holder !== version) (m.versions.get(holder) as VersionState).archived = true;
  } else {
    dropStageAliases();
    v.archived = stage === 'Archived';
  }
  if (description !== undefined) v.description = description;
  m.audits++;
  m.lastAction = 'transition_stage';
}

/** Roll back: the newest version older than the current Production goes back to Production, archiving the current one. */
class Rollback implements Cmd {
  constructor(readonly key: Key) {}
  check(model: Readonly<Model>): boolean {
    return this.target(model[this.key]) !== undefined;
  }
  private target(m: ModelState): number | undefined {
    const current = m.aliases.get('production');
    if (current === undefined) return undefined;
    return [...m.versions.keys()].filter((v) => v < current).sort((x, y) => y - x)[0];
  }
  async run(model: Model, real: Real): Promise<void> {
    const m = model[this.key];
    const previous = m.aliases.get('production') as number;
    const version = this.target(m) as number;
    const what = `${this.toString()}: v${previous} -> v${version}`;
    await expectOutcome(
      what,
      { ok: true },
      real.registry.transitionStage(real.name(this.key), version, 'Production', true, undefined, ACTOR),
    );
    applyTransition(m, version, 'Production', true, undefined);
    const prod = (await real.registry.listVersions(real.name(this.key), 'Production', 0, '')).items.map((v) => v.version);
    if (JSON.stringify(prod) !== JSON.stringify([version])) throw new Error(`${what}: Production is ${prod.join(',')}`);
    const old = await real.registry.resolveVersion(real.name(this.key), String(previous));
    if (old.stage !== stageOf(m, previous) || !old.archived) throw new Error(`${what}: the previous Production is ${old.stage}`);
    await verify(model, real, what);
  }
  toString = (): string => `rollback(${this.key})`;
}

const ALIASES = ['champion', 'canary', 'production', 'staging', '../etc', 'Bad', ''] as const;

class SetAlias implements Cmd {
  constructor(
    readonly key: Key,
    readonly alias: string,
    readonly target: Pick,
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const m = model[this.key];
    const version = resolvePick(m, this.target);
    const what = `${this.toString()} -> v${version}`;
    const badAlias = !/^[a-z0-9][a-z0-9._-]{0,63}$/.test(this.alias);
    const expected: Expected = badAlias ? { ok: false, code: 'QUIVER_ERR_INVALID_ARGUMENT' } : (versionProblem(m, version) ?? { ok: true });
    const v = await expectOutcome(what, expected, real.registry.setAlias(real.name(this.key), this.alias, version, ACTOR));
    if (v !== undefined) {
      m.aliases.set(this.alias, version);
      m.audits++;
      m.lastAction = 'set_alias';
    }
    await verify(model, real, what);
  }
  toString = (): string => `setAlias(${this.key}, ${JSON.stringify(this.alias)}, ${showPick(this.target)})`;
}

class DeleteAlias implements Cmd {
  constructor(
    readonly key: Key,
    readonly alias: string,
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const m = model[this.key];
    const badAlias = !/^[a-z0-9][a-z0-9._-]{0,63}$/.test(this.alias);
    const expected: Expected = badAlias
      ? { ok: false, code: 'QUIVER_ERR_INVALID_ARGUMENT' }
      : !m.exists || !m.aliases.has(this.alias)
        ? { ok: false, code: 'QUIVER_ERR_NOT_FOUND' }
        : { ok: true };
    const got = await attempt(real.registry.deleteAlias(real.name(this.key), this.alias, ACTOR));
    if (expected.ok !== got.ok || (!got.ok && !(got.err instanceof QuiverError && !expected.ok && got.err.code === expected.code)))
      throw new Error(
        `${this.toString()}: expected ${expected.ok ? 'success' : expected.code}, got ${got.ok ? 'success' : String(got.err)}`,
      );
    if (got.ok) {
      m.aliases.delete(this.alias);
      m.audits++;
      m.lastAction = 'delete_alias';
    }
    await verify(model, real, this.toString());
  }
  toString = (): string => `deleteAlias(${this.key}, ${JSON.stringify(this.alias)})`;
}

class DeleteVersion implements Cmd {
  constructor(
    readonly key: Key,
    readonly target: Pick,
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const m = model[this.key];
    const version = resolvePick(m, this.target);
    const what = `${this.toString()} -> v${version}`;
    const pointed = [...m.aliases.values()].includes(version);
    const expected: Expected =
      versionProblem(m, version) ?? (pointed ? { ok: false, code: 'QUIVER_ERR_FAILED_PRECONDITION' } : { ok: true });
    const got = await attempt(real.registry.deleteVersion(real.name(this.key), version, ACTOR));
    if (expected.ok !== got.ok || (!got.ok && !(got.err instanceof QuiverError && !expected.ok && got.err.code === expected.code)))
      throw new Error(`${what}: expected ${expected.ok ? 'success' : expected.code}, got ${got.ok ? 'success' : String(got.err)}`);
    if (got.ok) {
      m.versions.delete(version);
      m.audits++;
      m.lastAction = 'delete_version';
    }
    await verify(model, real, what);
  }
  toString = (): string => `deleteVersion(${this.key}, ${showPick(this.target)})`;
}

class Reload implements Cmd {
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    await real.registry.close();
    real.registry = await real.reopen();
    await verify(model, real, this.toString());
  }
  toString = (): string => 'reload';
}

/** Requests that name no valid model: refused before the store, nothing changes. */
class BadName implements Cmd {
  constructor(readonly name: string) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const expected: Expected = { ok: false, code: 'QUIVER_ERR_INVALID_ARGUMENT' };
    await expectOutcome(this.toString(), expected, real.registry.transitionStage(this.name, 1, 'Production', true, undefined, ACTOR));
    await expectOutcome(this.toString(), expected, real.registry.setAlias(this.name, 'champion', 1, ACTOR));
    await expectOutcome(this.toString(), expected, real.registry.deleteVersion(this.name, 1, ACTOR));
    await verify(model, real, this.toString());
  }
  toString = (): string => `badName(${JSON.stringify(this.name)})`;
}

const key = fc.constantFrom<Key>(...KEYS);
const commands = [
  fc.tuple(key, fc.nat({ max: ARTIFACTS.length - 1 })).map(([k, a]) => new Upload(k, a)),
  fc.tuple(key, fc.nat({ max: ARTIFACTS.length - 1 })).map(([k, a]) => new Upload(k, a)),
  fc
    .tuple(key, pick, fc.constantFrom(...STAGES), fc.boolean(), fc.option(fc.constantFrom('promoted by fuzz', ''), { nil: undefined }))
    .map(([k, p, s, a, d]) => new Transition(k, p, s, a, d)),
  fc
    .tuple(key, pick, fc.constantFrom<StageName>('Production', 'Staging'), fc.boolean())
    .map(([k, p, s, a]) => new Transition(k, p, s, a, undefined)),
  key.map((k) => new Rollback(k)),
  fc.tuple(key, fc.constantFrom(...ALIASES), pick).map(([k, a, p]) => new SetAlias(k, a, p)),
  fc.tuple(key, fc.constantFrom(...ALIASES)).map(([k, a]) => new DeleteAlias(k, a)),
  fc.tuple(key, pick).map(([k, p]) => new DeleteVersion(k, p)),
  fc.constant(new Reload()),
  fc.constantFrom('../a', '/etc/passwd', 'A', '', 'a\u0000b', '.hidden', 'x'.repeat(65)).map((n) => new BadName(n)),
];

let runs = 0;

async function runStateMachine(
  t: import('ava').ExecutionContext,
  open: () => Promise<{ reopen: () => Promise<Registry>; cleanup: () => Promise<void> }>,
  numRuns: number,
): Promise<void> {
  let commandsRun = 0;
  await fc.assert(
    fc.asyncProperty(fc.commands(commands, { maxCommands: 30 }), async (cmds) => {
      const { reopen, cleanup } = await open();
      const prefix = `run${++runs}`;
      const real: Real = { registry: await reopen(), reopen, name: (k) => `${prefix}-${k}` };
      try {
        await fc.asyncModelRun(async () => ({ model: emptyModel(), real }), cmds);
        commandsRun += [...cmds].length;
      } finally {
        await real.registry.close();
        await cleanup();
      }
    }),
    { numRuns, includeErrorInReport: true },
  );
  t.log(`${numRuns} runs, ${commandsRun} commands`);
}

test('[sqlite] the registry as a state machine: one Production per model, stage/alias views agree, one audit row per write, refusals change nothing', async (t) => {
  await runStateMachine(
    t,
    async () => {
      const dataDir = tmp('quiver-fuzz-registry-');
      return { reopen: () => Registry.open({ dataDir, maxUploadBytes: 1 << 20, trialLoad: false }), cleanup: async () => undefined };
    },
    40,
  );
  t.pass();
});

test('[postgres] the registry as a state machine: one Production per model, stage/alias views agree, one audit row per write, refusals change nothing', async (t) => {
  // One database for every run: each run's models have names of their own.
  const db = await POSTGRES.create();
  const dataDir = tmp('quiver-fuzz-registry-pg-');
  try {
    await runStateMachine(
      t,
      async () => ({
        reopen: () => Registry.open({ dataDir, maxUploadBytes: 1 << 20, url: db.url, trialLoad: false }),
        cleanup: async () => undefined,
      }),
      20,
    );
  } finally {
    await db.drop();
  }
  t.pass();
});
