// Locate files shipped with the package (schema/, openapi/) whatever the build output directory.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** Directory holding the project's package.json, found by walking up from this module. */
export function projectRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'schema'))) return (root = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error('s3-audit-proxy: cannot find the package root');
    dir = up;
  }
}
