// Errors the admin API answers with: an HTTP status, a stable machine code, a message for people,
// and (for input errors) the field at fault. Rendered as {"error": {"code", "message", "field"?}}.

export type AdminErrorCode =
  | 'malformed_json'
  | 'invalid_body'
  | 'unknown_field'
  | 'missing_field'
  | 'invalid_type'
  | 'invalid_value'
  | 'out_of_range'
  | 'invalid_endpoint'
  | 'unsupported_scheme'
  | 'endpoint_is_self'
  | 'webhook_rejected'
  | 'body_too_large'
  | 'unauthorized'
  | 'not_found'
  | 'method_not_allowed'
  | 'not_enabled'
  | 'shutting_down'
  | 'persist_failed'
  | 'too_many_streams'
  | 'stream_unavailable'
  | 'internal';

export class AdminHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: AdminErrorCode,
    message: string,
    readonly field: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'AdminHttpError';
  }

  toJSON(): { error: { code: string; message: string; field?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) } };
  }
}

/** 400 naming a field of the request body. */
export function badField(field: string, code: AdminErrorCode, message: string): AdminHttpError {
  return new AdminHttpError(400, code, `${field}: ${message}`, field);
}
