// serve --audit-required: the proxy's admission from the audit sink (one place for both process models).
import type { ServeConfig } from '../config/serve-config.js';
import type { Admission } from '../proxy/admission.js';
import type { AuditSink } from './sink.js';

/** Null (no admission: fail open, nothing changes) unless --audit-required and the sink can promise room. */
export function admissionOf(config: ServeConfig, sink: AuditSink): Admission | null {
  if (!config.auditRequired || sink.admit === undefined) return null;
  const admit = sink.admit.bind(sink);
  return { admit };
}
