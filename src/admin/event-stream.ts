// `GET /api/v1/events/stream`: the live event stream of the admin API (what `s3-audit-proxy tail`
// and the status page read). Chunked NDJSON, one object a line (docs/admin-api.md):
//   {"hello":{"filters":{...},"maxBufferedBytes":N}}   first, once events flow to this client
//   {"event":{...}}                                     each event that passes the filters
//   {"dropped":{"count":N,"total":M}}                   this client fell behind and lost N (M so far)
//   {"ping":"<RFC 3339 time>"}                          after 15 s without a line
// The query parses into the audit side's filter (audit/event-filter.ts); the dispatcher's tap
// (dispatch/tap.ts) buffers and bounds per client, so a slow reader never slows S3 or delivery.
import type { ServerResponse } from 'node:http';
import { compileFilter, describeFilter, FilterError, parseEventFilter, type EventFilterSpec } from '../audit/event-filter.js';
import type { EventTap } from '../dispatch/tap.js';
import { AdminHttpError } from './errors.js';
import type { Reply } from './routes.js';

export const EVENT_STREAM_PATH = '/api/v1/events/stream';
export const NDJSON = 'application/x-ndjson';

/** Seconds a refused client is asked to wait before trying again. */
const RETRY_AFTER_S = 5;

function filterOf(query: string): EventFilterSpec {
  try {
    return parseEventFilter(new URLSearchParams(query));
  } catch (err) {
    if (err instanceof FilterError) throw new AdminHttpError(400, 'invalid_value', err.message, err.param);
    throw err;
  }
}

/** The route's answer: an error, or a reply whose `stream` attaches the response to the tap. */
export function eventStreamReply(tap: EventTap | null, query: string): Reply {
  if (tap === null) throw new AdminHttpError(503, 'stream_unavailable', 'this proxy has no event stream (audit delivery is provided by the embedding application)');
  const spec = filterOf(query);
  if (tap.attached >= tap.maxClients) {
    throw new AdminHttpError(503, 'too_many_streams', `${tap.maxClients} event streams are attached already: try again later`, null, { 'retry-after': String(RETRY_AFTER_S) });
  }
  const hello = `${JSON.stringify({ hello: { filters: describeFilter(spec), maxBufferedBytes: tap.maxBufferedBytes } })}\n`;
  return {
    status: 200,
    contentType: NDJSON,
    // No await between the check above and this call: the tap cannot have filled meanwhile.
    stream: (res: ServerResponse) => {
      res.socket?.setNoDelay(true);
      tap.attach(res, compileFilter(spec), hello).catch(() => res.destroy());
    },
  };
}
