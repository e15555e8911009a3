/**
 * The inference core: the one API the transports (gRPC quiver.v1, later OIP v2 and REST)
 * translate to. It knows no gRPC and no HTTP.
 */
import type { BatchOutcome } from './batch-types.js';
import { CallContext, epochMs, type TraceHook } from './context.js';
import { Code, invalidArgument, isServerFault, QuiverError, toQuiverError } from './errors.js';
import type { LoadedVersion, ModelManager } from './model-manager.js';
import { type Prediction, postprocess } from './postprocess.js';
import { concatRows, copyTensor, type HostTensor, sliceRows, trailingShapeKey } from './tensor.js';
import { denseInputs, type InstanceInput, type ModelInputs, toModelInputs, type ValidationLimits } from './validate.js';
import type { FaultInjection } from './worker-protocol.js';
import { newPredictionId } from './request-id.js';
import type { Capture, PredictionLog } from '../feedback/prediction-log.js';
import type { RolloutRouter } from '../rollouts/router.js';
import { SHADOW_ID_SUFFIX } from './request-id.js';

export interface PredictInput {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly input: InstanceInput;
  readonly id: string;
}

export interface PredictResult extends Prediction {
  readonly modelName: string;
  readonly modelVersion: string;
  /** Raw outputs by output name, this instance's rows only. */
  readonly outputs: ReadonlyMap<string, HostTensor>;
  readonly id: string;
}

export interface BatchItemResult {
  readonly ok: boolean;
  readonly result?: PredictResult;
  readonly error?: QuiverError;
}

export interface BatchResult {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly items: readonly BatchItemResult[];
}

export interface DenseResult {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly outputs: ReadonlyMap<string, HostTensor>;
}

export type CoreOptions = ValidationLimits;

/** Loads a version that exists (in the registry) but is not loaded; false if it cannot. */
export type OnDemandLoader = (name: string, version: number) => Promise<boolean>;

const FAULT_PREFIX = 'quiver-fault:';

/** The wait in the queue and the batch's inference, as child spans of the call. */
function traceBatch(trace: TraceHook, t: BatchOutcome['timing'], label: string): void {
  trace.child('quiver.queue', t.dispatchedAt - t.queueUs / 1000, t.dispatchedAt, { 'quiver.model': label });
  trace.child('quiver.inference', t.dispatchedAt, t.dispatchedAt + t.runUs / 1000, {
    'quiver.model': label,
    'quiver.batch_rows': t.batchRows,
    'quiver.lane': t.inline ? 'inline' : 'worker',
  });
}

export class InferenceCore {
  private onDemand: OnDemandLoader | undefined;
  private predictionLog: PredictionLog | undefined;
  private router: RolloutRouter | undefined;

  constructor(
    readonly models: ModelManager,
    private readonly options: CoreOptions,
    /** Tests only: request ids `quiver-fault:...` break the worker running their batch. */
    private readonly faults: FaultInjection = {},
  ) {}

  /** Lets requests name a version by number that is registered but not loaded yet. */
  setOnDemandLoader(loader: OnDemandLoader): void {
    this.onDemand = loader;
  }

  /** Splits and copies the requests of models in a rollout (src/rollouts/router.ts). */
  setRolloutRouter(router: RolloutRouter): void {
    this.router = router;
  }

  /** Logs a sampled share of the answers (src/feedback/prediction-log.ts). */
  setPredictionLog(log: PredictionLog): void {
    if (log.enabled) this.predictionLog = log;
  }

  private fault(id: string): 'exit' | 'throw' | undefined {
    if (this.faults.faultInjection !== true || !id.startsWith(FAULT_PREFIX)) return undefined;
    const kind = id.slice(FAULT_PREFIX.length);
    if (kind === 'worker-exit') return 'exit';
    if (kind === 'worker-throw') return 'throw';
    return undefined;
  }

  private outputsOf(v: LoadedVersion, outputs: readonly HostTensor[]): Map<string, HostTensor> {
    const map = new Map<string, HostTensor>();
    v.signature.outputs.forEach((spec, i) => map.set(spec.name, outputs[i] as HostTensor));
    return map;
  }

  private result(v: LoadedVersion, outputs: readonly HostTensor[], id: string): PredictResult {
    return {
      modelName: v.name,
      modelVersion: String(v.version),
      ...postprocess(v.signature, outputs),
      outputs: this.outputsOf(v, outputs),
      id,
    };
  }

  /**
   * Resolves synchronously when the version is loaded (the common case: a request then
   * reaches its queue in the same tick, so an alias swap can never strand it), and loads a
   * registered version on demand when a request names it by number.
   */
  private resolve(modelName: string, modelVersion: string): LoadedVersion | Promise<LoadedVersion> {
    if (modelName === '') throw invalidArgument('model_name: required');
    try {
      return this.models.resolve(modelName, modelVersion);
    } catch (err) {
      const loader = this.onDemand;
      if (
        loader === undefined ||
        !/^[0-9]+$/.test(modelVersion) ||
        !(err instanceof QuiverError) ||
        err.code !== 'QUIVER_ERR_MODEL_NOT_FOUND'
      )
        throw err;
      return loader(modelName, Number(modelVersion)).then((ok) => {
        if (!ok) throw err;
        return this.models.resolve(modelName, modelVersion);
      });
    }
  }

  async predict(req: PredictInput, ctx: CallContext): Promise<PredictResult> {
    // A canary takes its share of the requests for the model's default version.
    const canary = req.modelVersion === '' ? this.router?.canaryFor(req.modelName, ctx) : undefined;
    const resolved = this.resolve(req.modelName, canary === undefined ? req.modelVersion : String(canary.candidate));
    const v = resolved instanceof Promise ? await resolved : resolved;
    const started = performance.now();
    let inputs: ModelInputs;
    try {
      const validateStart = ctx.trace === undefined ? 0 : epochMs();
      inputs = toModelInputs(v.signature, req.input, '', this.options);
      ctx.trace?.child('quiver.validate', validateStart, epochMs(), { 'quiver.rows': inputs.rows });
    } catch (err) {
      v.observer.request(toQuiverError(err).grpcStatus, (performance.now() - started) / 1000, 1);
      throw err;
    }
    const shadow = this.router?.shadowFor(v.name, v.version, ctx);
    // A copy of the inputs for the other version (they are handed to a worker next): a canary's
    // failure is answered by the baseline, and a shadow candidate gets the same request.
    const spare = canary !== undefined || shadow !== undefined ? inputs.tensors.map(copyTensor) : undefined;
    const id = req.id === '' ? newPredictionId() : req.id;
    try {
      const result = await this.run(v, inputs, id, ctx, started);
      if (shadow !== undefined && spare !== undefined)
        setImmediate(() => void this.shadowRun(v.name, shadow, { tensors: spare, rows: inputs.rows }, result));
      return result;
    } catch (err) {
      // The route as it was when the request was routed: it may have ended since (a rollback).
      if (canary === undefined || spare === undefined || !isServerFault(toQuiverError(err)) || ctx.cancelled || ctx.expired()) throw err;
      // The candidate failed (counted against it): the caller gets the baseline's answer.
      return this.run(
        this.models.resolve(v.name, String(canary.baseline)),
        { tensors: spare, rows: inputs.rows },
        id,
        ctx,
        performance.now(),
      );
    }
  }

  /** Runs validated inputs on a version, with the observers, the rollout tallies and the prediction log. */
  private async run(v: LoadedVersion, inputs: ModelInputs, id: string, ctx: CallContext, started: number): Promise<PredictResult> {
    try {
      const features = v.signature.featureNames === null ? undefined : (inputs.tensors[0] as HostTensor);
      if (features !== undefined) v.observer.features(features);
      // Kept before the tensor is handed to a worker.
      const logged = inputs.rows === 1 ? this.predictionLog?.capture(v, features) : undefined;
      const outcome = await v.batcher.submit(inputs.tensors, inputs.rows, ctx, this.fault(id));
      if (ctx.trace !== undefined) traceBatch(ctx.trace, outcome.timing, v.label);
      const result = this.result(v, outcome.outputs, id);
      const seconds = (performance.now() - started) / 1000;
      v.observer.request(Code.OK, seconds, inputs.rows);
      v.observer.prediction(result.prediction);
      this.router?.observe(v.name, v.version, true, seconds);
      if (logged !== undefined) this.predictionLog?.record(logged, result.id, result.prediction);
      return result;
    } catch (err) {
      const e = toQuiverError(err);
      const seconds = (performance.now() - started) / 1000;
      v.observer.request(e.grpcStatus, seconds, 1);
      this.router?.observe(v.name, v.version, !isServerFault(e), seconds);
      throw err;
    }
  }

  /** Shadow: the candidate answers a copy of a request the caller already has the answer to; the two are compared. */
  private async shadowRun(model: string, version: number, inputs: ModelInputs, answered: PredictResult): Promise<void> {
    try {
      const v = this.models.resolve(model, String(version));
      const mine = await this.run(v, inputs, `${answered.id}${SHADOW_ID_SUFFIX}`, new CallContext(), performance.now());
      this.router?.compared(model, mine.prediction === answered.prediction);
    } catch {
      // Counted in the candidate's tally and metrics; the caller never sees it.
    }
  }

  /** The `requests` form: items are validated one by one and fail independently. */
  async batchPredict(
    modelName: string,
    modelVersion: string,
    instances: ReadonlyArray<{ readonly input: InstanceInput; readonly id: string }>,
    ctx: CallContext,
  ): Promise<BatchResult> {
    const started = performance.now();
    const canary = modelVersion === '' ? this.router?.canaryFor(modelName, ctx) : undefined;
    const resolved = this.resolve(modelName, canary === undefined ? modelVersion : String(canary.candidate));
    const v = resolved instanceof Promise ? await resolved : resolved;
    if (instances.length === 0) throw invalidArgument('requests: empty batch; send at least one instance');
    if (instances.length > this.options.maxRequestRows) {
      throw invalidArgument(`requests: ${instances.length} instances is over the limit of ${this.options.maxRequestRows} per request`);
    }
    const items: BatchItemResult[] = new Array<BatchItemResult>(instances.length);
    const valid: Array<{ index: number; inputs: ModelInputs }> = [];
    const logged = new Map<number, Capture>();
    let rows = 0;
    instances.forEach((inst, index) => {
      try {
        const inputs = toModelInputs(v.signature, inst.input, `requests[${index}].`, this.options);
        const features = v.signature.featureNames === null ? undefined : (inputs.tensors[0] as HostTensor);
        if (features !== undefined) v.observer.features(features);
        const capture = inputs.rows === 1 ? this.predictionLog?.capture(v, features) : undefined;
        if (capture !== undefined) logged.set(index, capture);
        valid.push({ index, inputs });
        rows += inputs.rows;
      } catch (err) {
        items[index] = { ok: false, error: toQuiverError(err) };
      }
    });
    if (rows > this.options.maxRequestRows) {
      throw invalidArgument(`requests: ${rows} rows in all is over the limit of ${this.options.maxRequestRows} per request`);
    }
    // Instances that can share one inference go together: all of them when the model batches
    // and their non-batch dimensions agree; otherwise one submission each.
    const groups = new Map<string, Array<{ index: number; inputs: ModelInputs }>>();
    for (const item of valid) {
      const key = v.signature.batchable ? trailingShapeKey(item.inputs.tensors) : String(item.index);
      const group = groups.get(key);
      if (group === undefined) groups.set(key, [item]);
      else group.push(item);
    }
    const fault = instances.map((i) => this.fault(i.id)).find((f) => f !== undefined);
    await Promise.all(
      [...groups.values()].map(async (group) => {
        const groupRows = group.reduce((n, g) => n + g.inputs.rows, 0);
        const tensors =
          group.length === 1
            ? (group[0] as { inputs: ModelInputs }).inputs.tensors
            : v.signature.inputs.map((_, i) => concatRows(group.map((g) => g.inputs.tensors[i] as HostTensor)));
        try {
          const outcome = await v.batcher.submit(tensors, groupRows, ctx, fault);
          if (ctx.trace !== undefined) traceBatch(ctx.trace, outcome.timing, v.label);
          let offset = 0;
          for (const { index, inputs } of group) {
            const mine = group.length === 1 ? outcome.outputs : outcome.outputs.map((o) => sliceRows(o, offset, offset + inputs.rows));
            offset += inputs.rows;
            const given = (instances[index] as { id: string }).id;
            items[index] = { ok: true, result: this.result(v, mine, given === '' ? newPredictionId() : given) };
          }
        } catch (err) {
          const error = toQuiverError(err);
          for (const { index } of group) items[index] = { ok: false, error };
        }
      }),
    );
    // Per instance: answered ones count as OK (the call's latency observed once), failed ones with their code.
    let ok = 0;
    items.forEach((item, index) => {
      if (item.result !== undefined) {
        ok++;
        v.observer.prediction(item.result.prediction);
        const capture = logged.get(index);
        if (capture !== undefined) this.predictionLog?.record(capture, item.result.id, item.result.prediction);
        this.router?.observe(v.name, v.version, true, null);
      } else {
        v.observer.request(item.error?.grpcStatus ?? Code.INTERNAL, null, 1);
        this.router?.observe(v.name, v.version, item.error === undefined || !isServerFault(item.error), null);
      }
    });
    if (ok > 0) v.observer.request(Code.OK, (performance.now() - started) / 1000, ok);
    return { modelName: v.name, modelVersion: String(v.version), items };
  }

  /** The dense [N, F] FP32 form: one tensor in, the raw outputs for all rows out. */
  async batchPredictDense(modelName: string, modelVersion: string, dense: HostTensor, ctx: CallContext): Promise<DenseResult> {
    const started = performance.now();
    const canary = modelVersion === '' ? this.router?.canaryFor(modelName, ctx) : undefined;
    const resolved = this.resolve(modelName, canary === undefined ? modelVersion : String(canary.candidate));
    const v = resolved instanceof Promise ? await resolved : resolved;
    let rows = dense.dims[0] ?? 1;
    try {
      const inputs = denseInputs(v.signature, dense, this.options);
      rows = inputs.rows;
      v.observer.features(inputs.tensors[0] as HostTensor);
      const outcome = await v.batcher.submit(inputs.tensors, inputs.rows, ctx);
      if (ctx.trace !== undefined) traceBatch(ctx.trace, outcome.timing, v.label);
      const seconds = (performance.now() - started) / 1000;
      v.observer.request(Code.OK, seconds, rows);
      this.router?.observe(v.name, v.version, true, seconds);
      return { modelName: v.name, modelVersion: String(v.version), outputs: this.outputsOf(v, outcome.outputs) };
    } catch (err) {
      const e = toQuiverError(err);
      const seconds = (performance.now() - started) / 1000;
      v.observer.request(e.grpcStatus, seconds, rows);
      this.router?.observe(v.name, v.version, !isServerFault(e), seconds);
      throw err;
    }
  }

  metadata(modelName: string, modelVersion: string): LoadedVersion | Promise<LoadedVersion> {
    return this.resolve(modelName, modelVersion);
  }
}
