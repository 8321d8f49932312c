/** POST /auth/login: email and password for a bearer token (rate-limited per email and per IP). */
import { publicRoute, type Route } from '../routing.js';
import { attemptLogin } from '../auth/login.js';
import { API_AUDIENCE } from '../auth/tokens.js';
import { loginBody, loginQuery, tokenResponse } from './auth.schema.js';

export const authRoutes: Route[] = [
  publicRoute({
    method: 'post',
    path: '/auth/login',
    tag: 'auth',
    summary: 'Exchange an email and password for a bearer token',
    description:
      'Returns an HS256 JWT naming the user (sub), organization (org) and role. Unknown email, wrong password and ' +
      'disabled user all answer the same 401. Attempts are limited per email and per client IP ' +
      '(LOGIN_ATTEMPTS_PER_15MIN); over the limit: 429 with Retry-After.',
    errors: [415, 429],
    query: loginQuery,
    body: loginBody,
    response: tokenResponse,
    async handler({ app, body, req }) {
      const user = await attemptLogin(app, body.email, body.password, req.ip ?? 'unknown');
      const ttl = app.config.TOKEN_TTL_SECONDS;
      const token = await app.tokens.sign(
        { userId: user.id, orgId: user.organizationId, role: user.role, version: user.tokenVersion },
        API_AUDIENCE,
        ttl,
      );
      return { access_token: token, token_type: 'Bearer' as const, expires_in: ttl };
    },
  }),
];
