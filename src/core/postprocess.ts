/** Turns a model's raw outputs for one instance into prediction / probability / probabilities. */
import type { ServingSignature } from './signature.js';
import type { HostTensor } from './tensor.js';

export interface Prediction {
  readonly prediction: number;
  readonly probability: number;
  readonly probabilities: readonly number[];
}

function firstRowValues(t: HostTensor): number[] {
  const rows = t.dims.length > 1 ? (t.dims[0] ?? 1) : 1;
  const width = rows === 0 ? 0 : t.data.length / rows;
  const out: number[] = [];
  for (let i = 0; i < width; i++) out.push(Number(t.data[i]));
  return out;
}

/** Describes the instance's first row (typed-tensor requests may carry several). */
export function postprocess(sig: ServingSignature, outputs: readonly HostTensor[]): Prediction {
  const byName = (name: string | null): HostTensor | undefined => {
    if (name === null) return undefined;
    const i = sig.outputs.findIndex((o) => o.name === name);
    return i < 0 ? undefined : outputs[i];
  };
  if (sig.task === 'classification') {
    const probs = byName(sig.probabilityOutput);
    if (probs !== undefined) {
      let p = firstRowValues(probs);
      // A single sigmoid column is P(class 1) of a binary classifier.
      if (p.length === 1) p = [1 - (p[0] as number), p[0] as number];
      let best = 0;
      for (let i = 1; i < p.length; i++) if ((p[i] as number) > (p[best] as number)) best = i;
      // The class comes from the probabilities, never from a separate label output: some
      // exporters' label disagrees with argmax (TreeEnsembleClassifier).
      const label = Number(sig.classLabels[best]);
      return { prediction: Number.isFinite(label) ? label : best, probability: p[best] ?? 0, probabilities: p };
    }
    const label = byName(sig.labelOutput);
    if (label !== undefined && label.data.length > 0) {
      return { prediction: Number(label.data[0]), probability: 0, probabilities: [] };
    }
  }
  const first = outputs[0];
  const value = first !== undefined && first.data.length > 0 ? Number(first.data[0]) : 0;
  return { prediction: value, probability: 0, probabilities: [] };
}
