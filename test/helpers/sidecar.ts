/** Runs `quiver gateway --upstream` (the sidecar form) in a child process. */
import { spawn } from 'node:child_process';

import { ROOT } from './process.js';

export async function startSidecar(upstream: string): Promise<{ url: string; close(): Promise<void> }> {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/bin.ts', 'gateway', '--upstream', upstream, '--http-host', '127.0.0.1', '--http-port', '0'],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"msg":"quiver gateway serving"/.test(out) ? /"httpPort":(\d+)/.exec(out) : null;
      if (m !== null) resolve(Number(m[1]));
    });
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    void exited.then(() => reject(new Error(`sidecar exited: ${out}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      proc.kill('SIGTERM');
      await exited;
    },
  };
}
