/**
 * Accounts: register, log in (a new session; any session the client presented is revoked, so a
 * token planted before login is worthless after it), log out (revokes and records the logout),
 * who am I, and the one-time WebSocket ticket.
 */
import { Type } from 'typebox';
import { login, type LoggedIn } from '../../../commands/login.js';
import { logout } from '../../../commands/logout.js';
import { register } from '../../../commands/register.js';
import { csrfTokenFor } from '../csrf-token.js';
import type { RoutePlugin } from '../context.js';
import { ApiError } from '../errors.js';
import { clearSessionCookies, presentedToken, requireAuth, setSessionCookies } from '../plugins/auth.js';
import { runCommand } from '../run-command.js';
import { MeUserSchema, errorResponses } from '../schemas.js';

const Credentials = {
  // Lengths here only stop absurd input early; the domain gives the precise errors (USERNAME_INVALID, PASSWORD_TOO_LONG …).
  username: Type.String({ minLength: 1, maxLength: 64 }),
  password: Type.String({ minLength: 1, maxLength: 1024 }),
};

export const accountRoutes: RoutePlugin = async (app, ctx) => {
  const { deps, config, metrics, throttle } = ctx;

  app.post('/api/register', {
    schema: {
      tags: ['accounts'],
      security: [],
      summary: 'Create an account (role user)',
      body: Type.Object(Credentials, { additionalProperties: false }),
      response: { 201: MeUserSchema, ...errorResponses(400, 403, 409, 413, 415, 422, 429, 503) },
    },
    preHandler: throttle.register,
  }, async (request, reply) => {
    const r = await runCommand(metrics, 'register', () => register(deps.commands, request.body));
    return reply.status(201).send({ userId: r.userId, username: r.username, role: r.role });
  });

  app.post('/api/login', {
    schema: {
      tags: ['accounts'],
      security: [],
      summary: 'Log in: sets the session cookie, or returns a bearer token when bearer is true',
      description: 'Unknown user and wrong password give the same 401 INVALID_CREDENTIALS. Throttled per address (429), per account and address (429), '
        + 'and slowed down per account; 503 SERVICE_UNAVAILABLE with Retry-After when too many passwords are waiting to be checked.',
      body: Type.Object({
        ...Credentials,
        bearer: Type.Optional(Type.Boolean({ description: 'Return the token in the body (API clients) instead of setting cookies' })),
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          user: MeUserSchema,
          expiresAt: Type.String({ format: 'date-time', description: 'Absolute expiry; idle expiry comes sooner without use' }),
          csrfToken: Type.Optional(Type.String({ description: 'Send as X-CSRF-Token on cookie-authenticated writes' })),
          token: Type.Optional(Type.String({ description: 'Bearer token (only when bearer was true)' })),
        }),
        ...errorResponses(400, 401, 403, 413, 415, 422, 429, 503),
      },
    },
  }, async (request, reply) => {
    const { username, password, bearer } = request.body;
    const attempt = await throttle.login(request, reply);
    let user: LoggedIn;
    try {
      user = await runCommand(metrics, 'login', () => login(deps.commands, { username, password }));
    } catch (err) {
      // Only a judged wrong password (or unknown user) is a failure; a refusal for load or an outage is not.
      await attempt.settle(err instanceof ApiError && err.code === 'INVALID_CREDENTIALS');
      throw err;
    }
    await attempt.settle(false);
    const { token, session } = await deps.sessions.create({ userId: user.userId, role: user.role });
    // Rotation: whatever session the client came with is ended, so a fixated token stops working.
    const previous = presentedToken(request, config);
    if (previous) await deps.sessions.revoke(previous.token);
    const expiresAt = session.absoluteExpiresAt.toISOString();
    const me = { userId: user.userId, username: user.username, role: user.role };
    if (bearer) return reply.send({ user: me, expiresAt, token });
    const csrfToken = setSessionCookies(reply, config, token, session);
    return reply.send({ user: me, expiresAt, csrfToken });
  });

  app.post('/api/logout', {
    config: { auth: true },
    schema: {
      tags: ['accounts'],
      summary: 'Log out: revokes this session and records the logout',
      response: { 204: Type.Null(), ...errorResponses(401, 403) },
    },
  }, async (request, reply) => {
    const auth = requireAuth(request);
    // Revoke first: if recording the event fails, the user is still logged out.
    await deps.sessions.revoke(auth.token);
    deps.onLogout?.(auth.session);
    clearSessionCookies(reply, config);
    await runCommand(metrics, 'logout', () => logout(deps.commands, { userId: auth.session.userId }));
    return reply.status(204).send(null);
  });

  app.get('/api/me', {
    config: { auth: true },
    schema: {
      tags: ['accounts'],
      summary: 'The logged-in user and session',
      response: {
        200: Type.Object({
          user: MeUserSchema,
          session: Type.Object({ id: Type.String(), createdAt: Type.String({ format: 'date-time' }), expiresAt: Type.String({ format: 'date-time' }) }),
          csrfToken: Type.Union([Type.String(), Type.Null()], { description: 'For cookie sessions: the X-CSRF-Token value' }),
        }),
        ...errorResponses(401),
      },
    },
  }, async (request) => {
    const { session, token, via } = requireAuth(request);
    return {
      // The user id is the normalized username (domain/username.ts), so it doubles as the display name.
      user: { userId: session.userId, username: session.userId, role: session.role },
      session: { id: session.id, createdAt: session.createdAt.toISOString(), expiresAt: session.absoluteExpiresAt.toISOString() },
      csrfToken: via === 'cookie' ? csrfTokenFor(token) : null,
    };
  });

  app.post('/api/ws-ticket', {
    config: { auth: true },
    schema: {
      tags: ['accounts'],
      summary: 'A single-use ticket (30 s) for the WebSocket handshake',
      response: {
        201: Type.Object({ ticket: Type.String(), expiresAt: Type.String({ format: 'date-time' }) }),
        ...errorResponses(401, 403, 429),
      },
    },
  }, async (request, reply) => {
    const { session } = requireAuth(request);
    const t = await deps.sessions.issueTicket(session);
    return reply.status(201).send({ ticket: t.ticket, expiresAt: t.expiresAt.toISOString() });
  });

  {
    app.delete('/api/me', {
      config: { auth: true },
      schema: {
        tags: ['accounts'],
        summary: 'Erase my account: my message bodies and password hash become unrecoverable (docs/privacy.md)',
        description: 'The password is asked again (401 INVALID_CREDENTIALS when wrong, nothing changed; counted by the login throttle, so 429 RATE_LIMITED past its limits). Ends every session of the user '
          + 'and closes their sockets; the username stays reserved. Their messages show to the other participant as erased (empty body).',
        body: Type.Object({ password: Credentials.password }, { additionalProperties: false }),
        response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404, 413, 415, 422, 429, 503) },
      },
    }, async (request, reply) => {
      const auth = requireAuth(request);
      // Always registered (one API shape); a process built without erasure wiring has nothing to erase with.
      const eraseAccount = deps.eraseAccount;
      if (!eraseAccount) throw new ApiError('NOT_FOUND');
      // The re-entered password is throttled like a login: same counters, same refusals.
      const attempt = await throttle.login(request, reply, auth.session.userId);
      try {
        await runCommand(metrics, 'erase_account', () => eraseAccount({ username: auth.session.userId, by: 'self', password: request.body.password }));
      } catch (err) {
        await attempt.settle(err instanceof ApiError && err.code === 'INVALID_CREDENTIALS');
        throw err;
      }
      await attempt.settle(false);
      clearSessionCookies(reply, config);
      return reply.status(204).send(null);
    });
  }
};
