// The status page: four static files from web/ served by the admin listener at /, with a strict
// Content-Security-Policy (everything from this origin, no inline script or style, no framing).
// The files are public; the data they show comes from the token-protected API, and the token is
// typed in by the person looking (kept in the tab's sessionStorage, sent as a header, never in a URL).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { projectRoot } from '../paths.js';
import type { Reply } from './routes.js';

/** Sent with every file of the page. */
export const STATUS_PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': [
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'self'",
    "font-src 'none'", "object-src 'none'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
  ].join('; '),
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** URL path -> file in web/ and its content type. */
export const STATUS_PAGE_FILES: ReadonlyArray<{ path: string; file: string; contentType: string; summary: string }> = [
  { path: '/', file: 'index.html', contentType: 'text/html; charset=utf-8', summary: 'Status page (HTML; asks for the admin token in the browser)' },
  { path: '/status.js', file: 'status.js', contentType: 'text/javascript; charset=utf-8', summary: 'Status page script' },
  { path: '/status.css', file: 'status.css', contentType: 'text/css; charset=utf-8', summary: 'Status page style sheet' },
  { path: '/favicon.svg', file: 'favicon.svg', contentType: 'image/svg+xml', summary: 'Status page icon' },
];

const cache = new Map<string, Promise<string>>();

/** The reply for one of the page's files (read once, then kept: they are a few kilobytes). */
export async function statusPageFile(file: string, contentType: string): Promise<Reply> {
  let text = cache.get(file);
  if (!text) {
    text = readFile(join(projectRoot(), 'web', file), 'utf8');
    cache.set(file, text);
    text.catch(() => cache.delete(file));
  }
  return { status: 200, text: await text, contentType, headers: { ...STATUS_PAGE_HEADERS } };
}
