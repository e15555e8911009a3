/**
 * The sums a multi-process server's metrics port answers (src/serving/cluster-metrics.ts), over
 * real prom-client registries: what each process's registry gives goes through the same
 * getMetricsAsJSON() and aggregation as between real processes; the IPC hop is a call with a
 * JSON copy, as Node's channel serializes it.
 */
import type { Worker } from 'node:cluster';

import test from 'ava';
import { Counter, Gauge, Registry } from 'prom-client';

import type { PrimaryMessage } from '../src/serving/cluster-child.js';
import { ClusterMetrics } from '../src/serving/cluster-metrics.js';

/** A process: its registry with a counter and a gauge, and whether it answers collects. */
function serverProcess(requests: number, queue: number): { worker: Worker; registry: Registry; answers: boolean } {
  const registry = new Registry();
  new Counter({ name: 'requests_total', help: 'requests', registers: [registry] }).inc(requests);
  new Gauge({ name: 'queue_rows', help: 'rows queued', registers: [registry] }).set(queue);
  return { worker: {} as Worker, registry, answers: true };
}

function cluster(processes: Array<ReturnType<typeof serverProcess>>): ClusterMetrics {
  const metrics: ClusterMetrics = new ClusterMetrics((worker: Worker, message: PrimaryMessage) => {
    const p = processes.find((q) => q.worker === worker);
    if (p === undefined || !p.answers || message.type !== 'quiver:collect') return;
    // As over Node's IPC channel (JSON serialization): a copy, not the registry's live values.
    void p.registry.getMetricsAsJSON().then((json) => metrics.answered(worker, message.id, JSON.parse(JSON.stringify(json)) as object[]));
  }, 100);
  return metrics;
}

const value = (text: string, name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

test('counters and gauges of the serving processes add up', async (t) => {
  const a = serverProcess(3, 10);
  const b = serverProcess(4, 5);
  const text = await cluster([a, b]).text([a.worker, b.worker]);
  t.is(value(text, 'requests_total'), 7);
  t.is(value(text, 'queue_rows'), 15);
});

test('a process that exits leaves its counters in the sum, not its gauges; its replacement adds to them', async (t) => {
  const a = serverProcess(3, 10);
  const b = serverProcess(4, 5);
  const processes = [a, b];
  const metrics = cluster(processes);
  t.is(value(await metrics.text([a.worker, b.worker]), 'requests_total'), 7);
  metrics.exited(a.worker);
  const again = serverProcess(1, 2);
  processes.push(again);
  const text = await metrics.text([again.worker, b.worker]);
  t.is(value(text, 'requests_total'), 3 + 4 + 1, 'never below the 7 scraped before');
  t.is(value(text, 'queue_rows'), 5 + 2);
});

test('a process that does not answer in time counts with the series it gave last; one that never answered, with none', async (t) => {
  const a = serverProcess(3, 10);
  const b = serverProcess(4, 5);
  const metrics = cluster([a, b]);
  t.is(value(await metrics.text([a.worker, b.worker]), 'requests_total'), 7);
  (b.registry.getSingleMetric('requests_total') as Counter).inc(10);
  b.answers = false;
  t.is(value(await metrics.text([a.worker, b.worker]), 'requests_total'), 7, "b's last series, not a sum without it");
  const silent = serverProcess(100, 0);
  silent.answers = false;
  t.is(value(await metrics.text([a.worker, b.worker, silent.worker]), 'requests_total'), 7);
});

test('many restarts: the retired series are merged, and the sum stays exact', async (t) => {
  const processes = [serverProcess(1, 0)];
  const metrics = cluster(processes);
  let expected = 0;
  for (let i = 0; i < 20; i++) {
    const p = processes[processes.length - 1]!;
    t.is(value(await metrics.text([p.worker]), 'requests_total'), expected + 1);
    expected += 1;
    metrics.exited(p.worker);
    processes.push(serverProcess(1, 0));
  }
  t.is(value(await metrics.text([processes[processes.length - 1]!.worker]), 'requests_total'), expected + 1);
});
