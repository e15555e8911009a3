/**
 * (h) An inference-bound model: the MLP 10-4096-4096-2 of lib/mlp-model.ts (about 34 MFLOP a
 * row, where the demo model's cost is all transport). Raw onnxruntime at batch 1 (the limit of
 * one thread), the naive grpc-js server on the same model (for reference), and Quiver Predict,
 * at each concurrency.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { buildMlpModel } from '../lib/mlp-model.js';
import { checkPredict } from './answers.js';
import { measureGrpc, type Row } from './measure.js';
import { expectedProbability, rawOnnxruntime } from './onnxruntime.js';
import { MLP_HIDDEN } from './options.js';
import { PREDICT_PATH, predictBody } from './requests.js';
import { startComparisonServer, startQuiverFromDist, stopProcess } from './servers.js';
import { type Bench, rawRow } from './targets.js';

export const MLP_NAME = `MLP 10-${MLP_HIDDEN}-${MLP_HIDDEN}-2`;

/** The MLP's file in the bench's scratch directory, written on first use (64 MiB of weights). */
export function mlpModelPath(bench: Bench): string {
  const path = join(bench.work, `mlp-${MLP_HIDDEN}.onnx`);
  if (!existsSync(path)) writeFileSync(path, buildMlpModel(MLP_HIDDEN, 1));
  return path;
}

export async function mlpRows(bench: Bench): Promise<Row[]> {
  process.stderr.write(`(h) ${MLP_NAME}\n`);
  const modelPath = mlpModelPath(bench);
  const check = checkPredict(await expectedProbability(modelPath), true);
  const rows = [rawRow(`(h) raw onnxruntime, ${MLP_NAME}, batch 1`, await rawOnnxruntime(modelPath, 1, 3))];

  const naive = await startComparisonServer('naive-server.ts', [modelPath]);
  rows.push(
    ...(await measureGrpc(
      bench.work,
      `(h) naive grpc-js + inline onnxruntime, ${MLP_NAME}`,
      `127.0.0.1:${naive.port}`,
      PREDICT_PATH,
      predictBody,
      1,
      check,
    )),
  );
  await stopProcess(naive.child);

  const quiver = await startQuiverFromDist(modelPath);
  rows.push(
    ...(await measureGrpc(bench.work, `(h) Quiver Predict, ${MLP_NAME}`, `127.0.0.1:${quiver.port}`, PREDICT_PATH, predictBody, 1, check)),
  );
  await stopProcess(quiver.child);
  return rows;
}
