// Optional SigV4 verification at the proxy (--credentials-file). Every verdict is recorded on the
// observation; with --require-valid-signature a failed one is answered here, as a backend would
// answer it, and never forwarded.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServeConfig } from '../config/serve-config.js';
import { ConfigError } from '../errors.js';
import { SignatureVerifier, loadCredentialsFile } from '../s3/index.js';
import type { RequestGate } from './gate.js';
import type { RequestObservation } from './observation.js';
import { sendS3Error } from './s3-error-reply.js';

/** The gate --credentials-file asks for, or null without one. Errors name the setting. */
export function signatureGate(config: ServeConfig): SignatureGate | null {
  if (!config.credentialsFile) return null;
  let credentials: Map<string, string>;
  try {
    credentials = loadCredentialsFile(config.credentialsFile);
  } catch (err) {
    throw new ConfigError('--credentials-file', (err as Error).message);
  }
  return new SignatureGate(new SignatureVerifier(credentials), config.requireValidSignature, config.virtualHostDomains);
}

export class SignatureGate implements RequestGate {
  constructor(
    private readonly verifier: SignatureVerifier,
    private readonly requireValid: boolean,
    private readonly virtualHostDomains: readonly string[],
  ) {}

  async check(req: IncomingMessage, res: ServerResponse, obs: RequestObservation): Promise<boolean> {
    const verdict = await this.verifier.verify({
      method: req.method ?? '', url: req.url ?? '/', headers: req.headers, virtualHostDomains: this.virtualHostDomains,
    });
    obs.signatureVerified = verdict.ok;
    if (verdict.ok) return true;
    obs.signatureProblem = `${verdict.code}: ${verdict.message}`;
    if (!this.requireValid) return true;
    obs.statusCode = 403;
    obs.outcome = 'rejected';
    obs.outcomeDetail = verdict.code;
    obs.proxyReply = { code: verdict.code, message: verdict.message };
    const path = (req.url ?? '/').split('?', 1)[0]!;
    obs.firstByteMono = performance.now();
    obs.bytesSent = sendS3Error(res, 403, verdict.code, verdict.message, path, obs.id);
    return false;
  }
}
