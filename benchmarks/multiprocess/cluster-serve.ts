/**
 * The multi-process server the multiprocess benchmark measures: a `cluster` primary that forks
 * N `quiver serve` processes sharing one gRPC (and REST) port.
 *
 *   node --import tsx cluster-serve.ts <processes> <path to dist/src/cli/bin.js> serve <flags...>
 *
 * Node 20's net servers have no reusePort, so the port is shared the cluster way: a worker's
 * listen (grpc-js's bindAsync ends in net.Server.listen) asks the primary, which holds the one
 * listening socket, accepts, and hands each new connection to the workers in turn (round
 * robin, Node's default on Linux). Connections, not calls, are spread: a client's calls all go
 * to the process that got its connection. Each worker is a whole Quiver with its own piscina
 * pool, sized by its flags. The primary runs no Quiver code; it prints one JSON line,
 * {"msg":"cluster serving","pids":[...]}, once every worker has logged 'quiver serving', and
 * on SIGTERM passes the signal on and exits when every worker has.
 */
import cluster, { type Worker } from 'node:cluster';

const [processesArg, cli, ...args] = process.argv.slice(2);
const processes = Number(processesArg);
if (!Number.isInteger(processes) || processes < 1 || cli === undefined)
  throw new Error('usage: cluster-serve.ts <processes> <dist/src/cli/bin.js> serve <flags...>');

// The workers run the compiled CLI under plain node (not this script's tsx loader), with their
// output piped here so that the primary sees when each one is serving.
cluster.setupPrimary({ exec: cli, args, execArgv: [], silent: true });

const workers: Worker[] = [];
let serving = 0;
let stopping = false;

for (let i = 0; i < processes; i++) {
  const worker = cluster.fork();
  workers.push(worker);
  let pending = '';
  worker.process.stdout?.on('data', (d: Buffer) => {
    process.stdout.write(d);
    pending += d.toString();
    // One 'quiver serving' line per worker: stop scanning its output after it.
    if (pending.includes('"msg":"quiver serving"')) {
      pending = '';
      worker.process.stdout?.removeAllListeners('data');
      worker.process.stdout?.resume();
      if (++serving === processes)
        process.stdout.write(`${JSON.stringify({ msg: 'cluster serving', pids: workers.map((w) => w.process.pid) })}\n`);
    } else {
      pending = pending.slice(pending.lastIndexOf('\n') + 1);
    }
  });
  worker.process.stderr?.pipe(process.stderr);
}

// A worker that dies while the cluster is up fails the measurement: stop everything.
cluster.on('exit', (worker, code, signal) => {
  if (!stopping) {
    process.stderr.write(`cluster worker ${worker.process.pid} exited (${code ?? signal}) while serving\n`);
    stop(1);
  } else if (workers.every((w) => w.isDead())) {
    process.exit(process.exitCode ?? 0);
  }
});

function stop(code: number): void {
  if (stopping) return;
  stopping = true;
  process.exitCode = code;
  for (const w of workers) if (!w.isDead()) w.process.kill('SIGTERM');
  if (workers.every((w) => w.isDead())) process.exit(code);
}

process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));
