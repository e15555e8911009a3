/** The server's memory as the soak benchmark samples it: RSS from /proc (lib/quiver-process.ts), the V8 heap from its /metrics. */
import { loadAverage, type ProcessMemory, processMemory } from '../lib/quiver-process.js';

export interface MemSample extends ProcessMemory {
  /** Seconds since the server logged 'quiver serving'. */
  readonly t: number;
  readonly phase: string;
  readonly cycle: number | null;
  readonly heapUsedMiB: number | null;
  /** V8's JS heap as reserved (what it contributes to RSS, roughly). */
  readonly heapTotalMiB: number | null;
  /** RSS minus the V8 heap total: onnxruntime, buffers, code, stacks (where a native leak shows). */
  readonly nativeMiB: number | null;
  readonly externalMiB: number | null;
  /** The machine's 1-minute load average when sampled (others share this machine). */
  readonly load1: number;
}

interface HeapMetrics {
  readonly heapUsed: number | null;
  readonly heapTotal: number | null;
  readonly external: number | null;
}

/** The V8 heap gauges from the server's /metrics, MiB; nulls when metrics are off or not answering. */
async function heapMetrics(metricsPort: number | null): Promise<HeapMetrics> {
  if (metricsPort === null) return { heapUsed: null, heapTotal: null, external: null };
  try {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const metric = (name: string): number | null => {
      const m = new RegExp(`^${name} ([0-9.e+]+)`, 'm').exec(text);
      return m === null ? null : Math.round((Number(m[1]) / 2 ** 20) * 10) / 10;
    };
    return {
      heapUsed: metric('nodejs_heap_size_used_bytes'),
      heapTotal: metric('nodejs_heap_size_total_bytes'),
      external: metric('nodejs_external_memory_bytes'),
    };
  } catch {
    // metrics off or not answering: RSS is what matters
    return { heapUsed: null, heapTotal: null, external: null };
  }
}

/** One reading of the server's memory (without when and in which phase it was taken). */
export async function readMemory(pid: number, metricsPort: number | null): Promise<Omit<MemSample, 't' | 'phase' | 'cycle'>> {
  const mem = processMemory(pid);
  const { heapUsed, heapTotal, external } = await heapMetrics(metricsPort);
  const nativeMiB = heapTotal === null ? null : Math.round((mem.rssMiB - heapTotal) * 10) / 10;
  return { ...mem, heapUsedMiB: heapUsed, heapTotalMiB: heapTotal, nativeMiB, externalMiB: external, load1: loadAverage().load1 };
}
