// A real @20minutes/s3rver in its own process (so the S3 backend does not share the test process's
// event loop, and can be stopped and started again on the same port with the same data).
// Usage: node s3rver-child.js '{"port":0,"dir":"/tmp/x"}'  -> prints "READY <port>" on stdout.
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';

const require = createRequire(import.meta.url);
const { port, dir } = JSON.parse(process.argv[2] ?? '{}') as { port: number; dir: string };
const S3rver = require('@20minutes/s3rver') as new (o: Record<string, unknown>) => { run(): Promise<AddressInfo> };
const server = new S3rver({ address: '127.0.0.1', port, silent: true, directory: dir });
const addr = await server.run();
process.stdout.write(`READY ${addr.port}\n`);
process.on('SIGTERM', () => process.exit(0));
// Exit with the parent (no orphan if the test process dies).
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
