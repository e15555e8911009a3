/** The server's Prometheus registry (prom-client): process metrics now; serving metrics join it here. */
import { collectDefaultMetrics, Registry } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
