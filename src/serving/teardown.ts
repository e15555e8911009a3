/**
 * How a server's parts stop: each part, once started, registers how to stop it; a failed start
 * and a shutdown both unwind the list, last started first. A step runs once however often it is
 * asked for, so shutdown() can take some early (the gateway in parallel with gRPC) and unwind
 * the rest; a step that fails is logged and the next one still runs.
 */
import type { Logger } from 'pino';

interface Step {
  readonly run: () => Promise<void>;
  readonly started: () => boolean;
}

export class Teardown {
  private readonly steps: Step[] = [];

  constructor(private readonly log: Logger) {}

  /**
   * Registers how to stop `part` (named in the log when stopping it fails); returns the step,
   * to run it ahead of unwind().
   */
  add(part: string, stop: () => unknown): () => Promise<void> {
    let done: Promise<void> | undefined;
    const run = (): Promise<void> =>
      (done ??= (async () => {
        await stop();
      })().catch((err: unknown) => this.log.warn({ err }, `${part} close failed`)));
    this.steps.push({ run, started: () => done !== undefined });
    return run;
  }

  /** Runs the steps not run yet, last registered first, each once the one before has finished. */
  async unwind(): Promise<void> {
    for (const step of [...this.steps].reverse()) if (!step.started()) await step.run();
  }
}
