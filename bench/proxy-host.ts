// Fallback host for the "audit on (webhook)" rows while the admin API is not there yet: the same
// startServer() that `s3-audit-proxy serve` runs, then the same AuditDispatcher.setWebhook() call
// the admin route `POST /api/v1/audit-webhook/enable` makes. Run as its own process, like the CLI.
//
// Usage: BENCH_WEBHOOK='{"endpoint":..,"authToken":..}' node dist/bench/proxy-host.js <serve flags>
// Logs "bench proxy-host ready" (JSON, with `listen`) once the webhook is enabled.
import { loadServeConfig } from '../src/config/serve-config.js';
import { createLogger } from '../src/log.js';
import { startServer } from '../src/cli/serve.js';
import type { WebhookTargetConfig } from '../src/dispatch/types.js';

const config = loadServeConfig(process.argv.slice(2), {});
const logger = createLogger(config.logLevel as 'info');
const running = await startServer(config, logger);
const wh = process.env['BENCH_WEBHOOK'];
if (wh) {
  if (!running.dispatcher) throw new Error('no dispatcher');
  await running.dispatcher.setWebhook(JSON.parse(wh) as WebhookTargetConfig);
}
logger.info({ listen: running.proxy.url, webhook: wh ? 'in-process setWebhook' : 'none' }, 'bench proxy-host ready');

let stopping = false;
const onSignal = (): void => {
  if (stopping) return;
  stopping = true;
  running.stop().then(() => process.exit(0), () => process.exit(1));
};
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);
