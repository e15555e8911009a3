/**
 * The package root, found from this module's location: the same whether the code runs from
 * src/ under tsx or from dist/src/ compiled, so runtime files (proto/, package.json) resolve.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'proto'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('quiver: cannot find the package root (package.json next to proto/)');
    dir = parent;
  }
}

export const PACKAGE_ROOT = findRoot();
export const PROTO_DIR = join(PACKAGE_ROOT, 'proto');
