// Generates TypeScript from proto/ with buf + ts-proto (both from the npm registry).
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
rmSync(new URL('../proto/gen', import.meta.url), { recursive: true, force: true });
const buf = spawnSync(new URL('../node_modules/.bin/buf', import.meta.url).pathname, ['generate'], { cwd: root, stdio: 'inherit' });
if (buf.status !== 0) {
  console.error('code generation failed: is `npm install` complete (buf and ts-proto come from devDependencies)?');
  process.exit(buf.status ?? 1);
}
