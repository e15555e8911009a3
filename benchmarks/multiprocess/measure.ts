/**
 * One measurement of the multiprocess benchmark: h2load against one call of a running server
 * shape, over several connections so that a cluster's processes each get some, with the CPU
 * the server's processes and the whole machine used meanwhile (Linux /proc). The answer is
 * checked before and after the load on as many connections as there are processes (the
 * cluster hands connections out in turn, so each process answers one).
 */
import { readFileSync } from 'node:fs';

import { runLoad, verifyCall } from '../lib/h2load.js';
import { cpuMsOf } from '../overload/server-side.js';
import type { AnswerCheck } from '../run/answers.js';
import type { RunningShape } from './servers.js';

export interface Call {
  readonly name: string;
  readonly path: string;
  readonly body: Buffer;
  readonly rowsPerCall: number;
  readonly check: AnswerCheck;
}

export interface Load {
  readonly concurrency: number;
  readonly connections: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly workDir: string;
}

export interface Measurement {
  /** Calls answered in full (grpc-status 0) per second: h2load's rate less its failed share. */
  readonly okPerSecond: number;
  readonly rowsPerSecond: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly failed: number;
  /** Cores each Quiver process used during the load (warm-up included), in quiverPids order. */
  readonly quiverCores: readonly number[];
  /** Cores all the server's processes used (a cluster primary included). */
  readonly serverCores: number;
  /** Cores the whole machine used: the server, h2load, and anything else running. */
  readonly machineCores: number;
}

/** Busy and total jiffies of all CPUs (/proc/stat's first line; idle and iowait are not busy). */
function machineJiffies(): { busy: number; total: number } {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] as string).trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  return { busy: total - (fields[3] as number) - (fields[4] as number), total };
}

async function verify(shape: RunningShape, call: Call, when: string): Promise<number> {
  let responseBytes = 0;
  for (let i = 0; i < shape.quiverPids.length; i++) {
    const r = await verifyCall(shape.address, call.path, call.body);
    if (r.status !== 0) throw new Error(`${call.name} ${when}: grpc-status ${r.status}: ${r.details}`);
    call.check(r.message);
    responseBytes = r.message.length + 5;
  }
  return responseBytes;
}

export async function measure(shape: RunningShape, call: Call, load: Load): Promise<Measurement> {
  const responseBytes = await verify(shape, call, 'before the load');
  const cpu0 = shape.pids.map(cpuMsOf);
  const machine0 = machineJiffies();
  const t0 = performance.now();
  const r = await runLoad({ url: `http://${shape.address}${call.path}`, body: call.body, ...load, responseBytes });
  const seconds = (performance.now() - t0) / 1000;
  const used = shape.pids.map((pid, i) => (cpuMsOf(pid) - (cpu0[i] as number)) / 1000 / seconds);
  const machine1 = machineJiffies();
  // The load is over before the check: h2load does not read grpc-status, so the answers must still be right.
  await verify(shape, call, 'after the load');
  const quiverCores = shape.quiverPids.map((pid) => used[shape.pids.indexOf(pid)] as number);
  // h2load's rate counts every finished call; a shed call (RESOURCE_EXHAUSTED) is finished too, and fast.
  const okPerSecond = (r.requestsPerSecond * r.succeeded) / Math.max(1, r.succeeded + r.failed);
  return {
    okPerSecond,
    rowsPerSecond: okPerSecond * call.rowsPerCall,
    p50Us: r.p50Us,
    p99Us: r.p99Us,
    failed: r.failed,
    quiverCores,
    serverCores: used.reduce((a, b) => a + b, 0),
    // /proc/stat counts USER_HZ (100) jiffies per CPU.
    machineCores: (machine1.busy - machine0.busy) / 100 / seconds,
  };
}
