/**
 * Bound series (src/metrics/bound-series.ts) keep their numbers outside prom-client until the
 * registry is read. Read, they must be exactly what prom-client's own child observers give for
 * the same observations: the same text exposition and the same JSON, series for series.
 */
import test from 'ava';
import { Counter, Histogram, Registry } from 'prom-client';

import { BoundCounter, BoundHistogram } from '../src/metrics/bound-series.js';
import { LATENCY_BUCKETS } from '../src/metrics/metrics.js';

const VALUES = [0, 0.00004, 0.00005, 0.00007, 0.0003, 0.0003, 0.004, 0.2, 3, 9.99, 10, 11, 400];

function registries(): { plain: Registry; bound: Registry } {
  return { plain: new Registry(), bound: new Registry() };
}

test('a bound histogram series exports what prom-client exports for the same observations', async (t) => {
  const { plain, bound } = registries();
  const config = { name: 'h_seconds', help: 'help', labelNames: ['model', 'version'] as const, buckets: LATENCY_BUCKETS };
  const reference = new Histogram({ ...config, labelNames: [...config.labelNames], registers: [plain] });
  const mine = new BoundHistogram({ ...config, labelNames: [...config.labelNames], registers: [bound] });
  const a = reference.labels({ model: 'm', version: '1' });
  const b = reference.labels({ model: 'm', version: '2' });
  const boundA = mine.bind({ model: 'm', version: '1' });
  const boundB = mine.bind({ model: 'm', version: '2' });
  for (const v of VALUES) {
    a.observe(v);
    boundA.observe(v);
  }
  b.observe(0.001);
  boundB.observe(0.001);
  t.is(await bound.metrics(), await plain.metrics());
  t.deepEqual(await bound.getMetricsAsJSON(), await plain.getMetricsAsJSON());
  // A label set observed through prom-client's own API still shows beside the bound ones.
  reference.observe({ model: 'm', version: '3' }, 0.5);
  mine.observe({ model: 'm', version: '3' }, 0.5);
  t.is((await bound.metrics()).split('\n').sort().join('\n'), (await plain.metrics()).split('\n').sort().join('\n'));
});

test('a bound histogram series shows nothing before its first observation and nothing once unbound', async (t) => {
  const { bound } = registries();
  const mine = new BoundHistogram({ name: 'h2_seconds', help: 'help', labelNames: ['model'], buckets: [1, 2], registers: [bound] });
  const series = mine.bind({ model: 'm' });
  t.notRegex(await bound.metrics(), /h2_seconds_count/);
  series.observe(1.5);
  series.observe(Number.NaN);
  series.observe(Number.POSITIVE_INFINITY);
  t.regex(await bound.metrics(), /h2_seconds_count\{model="m"\} 1\n/);
  t.regex(await bound.metrics(), /h2_seconds_bucket\{le="2",model="m"\} 1\n/);
  mine.unbind(series);
  t.notRegex(await bound.metrics(), /h2_seconds_count/);
});

/** The exposition's lines in order: a bound counter series is folded in when read, so it comes later. */
const lines = async (r: Registry): Promise<string> => (await r.metrics()).split('\n').sort().join('\n');

test("a bound counter series adds into prom-client's counter when read, and keeps its count once unbound", async (t) => {
  const { plain, bound } = registries();
  const config = { name: 'c_total', help: 'help', labelNames: ['model', 'status'] };
  const reference = new Counter({ ...config, registers: [plain] });
  const mine = new BoundCounter({ ...config, registers: [bound] });
  const ok = reference.labels({ model: 'm', status: 'ok' });
  const boundOk = mine.bind({ model: 'm', status: 'ok' });
  t.is(await lines(bound), await lines(plain));
  for (const n of [1, 3, 1]) {
    ok.inc(n);
    boundOk.inc(n);
  }
  reference.inc({ model: 'm', status: 'error' }, 2);
  mine.inc({ model: 'm', status: 'error' }, 2);
  t.is(await lines(bound), await lines(plain));
  ok.inc(4);
  boundOk.inc(4);
  mine.unbind(boundOk);
  t.is(await lines(bound), await lines(plain));
  t.regex(await bound.metrics(), /c_total\{model="m",status="ok"\} 9\n/);
});
