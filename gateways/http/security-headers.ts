/**
 * The security headers every answer carries (helmet), in one place: app.ts registers them, and
 * plugins/errors.ts copies them onto the answers given before any hook runs.
 *
 * helmet's default Content-Security-Policy, less `upgrade-insecure-requests`: served over plain http
 * on a LAN address (a phone on the same network), that directive turned every link and asset of
 * /docs and of the 404 page into an https URL the service does not answer. The web pages set their
 * own policy (gateways/web/csp.ts), which adds it only when the page came over https.
 */
// Untyped on purpose: helmet and @fastify/helmet each bring their own copy of helmet's option types.
export const HELMET_OPTIONS = {
  contentSecurityPolicy: { useDefaults: true as const, directives: { upgradeInsecureRequests: null } },
};

/**
 * /docs (Swagger UI): @fastify/swagger-ui's static policy, likewise without
 * `upgrade-insecure-requests`, and with inline styles, which Swagger UI sets on its elements.
 */
export const DOCS_CSP = [
  "default-src 'self'",
  "base-uri 'self'",
  "font-src 'self' data:",
  "frame-ancestors 'self'",
  "img-src 'self' data:",
  "object-src 'none'",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self' 'unsafe-inline'",
].join('; ');
