/** Builds the drift monitor of a model version from its training profile (registry lineage). */
import type { Options } from '../config/options.js';
import type { DriftFactory } from '../metrics/metrics.js';
import { DriftMonitor, resolveDriftOptions } from './drift.js';

export function createDriftFactory(options: Options): DriftFactory {
  // resolveOptions() has checked these against each other (checkDrift there, naming the options).
  const drift = resolveDriftOptions({
    window: options.driftWindow,
    minSamples: options.driftMinSamples,
    psiThreshold: options.driftPsiThreshold,
    ksAlpha: options.driftKsAlpha,
  });
  return (info) => {
    const profile = info.lineage?.profile;
    const names = info.signature.featureNames;
    if (profile === undefined || names === null || profile.features.length === 0) return undefined;
    const monitor = new DriftMonitor(profile, names, drift);
    return monitor.monitoredFeatures.length === 0 ? undefined : monitor;
  };
}
