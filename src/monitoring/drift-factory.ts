/** Builds the drift monitor of a model version from its training profile (registry lineage). */
import type { Options } from '../config/options.js';
import { invalidConfig } from '../core/errors.js';
import type { DriftFactory } from '../metrics/metrics.js';
import { DriftMonitor, type DriftOptions, resolveDriftOptions } from './drift.js';

export function createDriftFactory(options: Options): DriftFactory {
  let drift: Readonly<DriftOptions>;
  try {
    drift = resolveDriftOptions({
      window: options.driftWindow,
      minSamples: options.driftMinSamples,
      psiThreshold: options.driftPsiThreshold,
      ksAlpha: options.driftKsAlpha,
    });
  } catch (err) {
    throw invalidConfig(`drift options: ${(err as Error).message}`);
  }
  return (info) => {
    const profile = info.lineage?.profile;
    const names = info.signature.featureNames;
    if (profile === undefined || names === null || profile.features.length === 0) return undefined;
    const monitor = new DriftMonitor(profile, names, drift);
    return monitor.monitoredFeatures.length === 0 ? undefined : monitor;
  };
}
