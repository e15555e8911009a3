/** Runs Python under Debian's interpreter (numpy, scikit-learn, onnx): JSON in on stdin, JSON out on stdout. */
import { spawn } from 'node:child_process';

/** Debian's python3: the one that sees python3-numpy, python3-sklearn and python3-onnx. */
export const PYTHON = '/usr/bin/python3';

export function python<T>(script: string, input: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-c', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as T) : reject(new Error(`python exited ${code}: ${err}`))));
    child.stdin.end(JSON.stringify(input));
  });
}
