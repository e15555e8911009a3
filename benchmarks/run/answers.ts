/** The checks on a server's answer, before and after its load (h2load does not read the answers). */
import { BatchPredictResponse, PredictResponse } from '../../src/gen/quiver/v1/prediction.js';
import { BATCH_ROWS } from './options.js';

export type AnswerCheck = (msg: Buffer) => void;

/** A Predict answer; with `exact`, its probability of class 1 must be onnxruntime's. */
export const checkPredict =
  (expectedP1: number, exact: boolean): AnswerCheck =>
  (msg) => {
    const res = PredictResponse.decode(msg);
    if (exact && res.probabilities[1] !== expectedP1)
      throw new Error(`wrong answer: ${JSON.stringify(res.probabilities)} != ${expectedP1}`);
  };

/** A dense BatchPredict answer to `rows` rows: two fp32 probabilities per row. */
export const checkBatchOf =
  (rows: number): AnswerCheck =>
  (msg) => {
    const res = BatchPredictResponse.decode(msg);
    const probs = res.denseOutputs.get('probabilities');
    if (probs === undefined || probs.rawData.length !== rows * 2 * 4) throw new Error('wrong dense answer');
  };

/** A dense BatchPredict answer to BATCH_ROWS rows. */
export const checkBatch = checkBatchOf(BATCH_ROWS);
