// The proxy's connections to the backend, made once per listener: the undici Pool every request is
// forwarded through, and the node:http agent for requests with an Expect header (forward-expect.ts).
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import { Pool } from 'undici';
import type { ServeConfig } from '../config/serve-config.js';
import { expectAgent } from './forward-expect.js';

export function backendPool(cfg: ServeConfig, origin: string): Pool {
  const https = origin.startsWith('https:');
  return new Pool(origin, {
    connections: cfg.backendConnections,
    pipelining: 1,
    keepAliveTimeout: 4_000,
    // Idle backend sockets close after 4 s even when the backend's Keep-Alive hint is longer: with no
    // cap on connections, a burst must not leave its peak of descriptors open for a minute.
    keepAliveMaxTimeout: 4_000,
    headersTimeout: cfg.backendHeadersTimeoutMs,
    bodyTimeout: cfg.backendBodyTimeoutMs,
    connect: {
      timeout: cfg.connectTimeoutMs,
      ...(https && cfg.backendCa ? { ca: readFileSync(cfg.backendCa) } : {}),
      ...(https && cfg.backendInsecureSkipVerify ? { rejectUnauthorized: false } : {}),
    },
  });
}

/** Requests with an Expect header go through node:http (undici cannot send Expect over HTTP/1.1). */
export function backendExpectAgent(cfg: ServeConfig, origin: string): http.Agent {
  return expectAgent(origin, {
    maxSockets: cfg.backendConnections,
    ...(cfg.backendCa ? { ca: readFileSync(cfg.backendCa) } : {}),
    ...(cfg.backendInsecureSkipVerify ? { rejectUnauthorized: false } : {}),
  });
}

/** Closes the pool, letting requests on it finish; destroys it when closing fails. */
export function closePool(pool: Pool): Promise<void> {
  return pool.close().catch(() => pool.destroy());
}
