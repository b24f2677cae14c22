import type { RequestHandler } from 'express';

/**
 * Headers on every response, JSON and errors included. The page loads only its own script and
 * stylesheet and talks only to this origin, so the policy allows nothing else: no inline script,
 * no eval, no framing. Style attributes are not allowed either; the page and its charts set
 * styles through the CSSOM, which a policy does not govern.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const HEADERS: Record<string, string> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
};

export function securityHeaders(): RequestHandler {
  return function setSecurityHeaders(_req, res, next) {
    res.set(HEADERS);
    next();
  };
}
