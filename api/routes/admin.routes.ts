/**
 * Bull Board at /admin/queues over every queue, for operators only, usable from a browser:
 * GET /admin/login shows a form; POST /admin/login checks the password (same limiter and timing
 * as the API login) and, for an operator, sets an HttpOnly, SameSite=Strict cookie holding a
 * short-lived JWT (its own audience). Without credentials browsers are redirected (302) to the
 * form and API clients (Accept: application/json) get 401; non-operators get 403. An operator's
 * API Bearer token works too.
 *
 * The cookie is `Secure` whenever the request is HTTPS as express sees it: behind a TLS-terminating
 * ingress that needs TRUST_PROXY (X-Forwarded-Proto from a trusted proxy). POST /admin/logout ends
 * the session server-side: its token id is revoked in Redis until it would have expired, so a copy
 * of the cookie is worthless afterwards. BULL_BOARD_READ_ONLY shows the queues without the retry,
 * promote, clean, remove and pause actions (Bull Board's readOnlyMode refuses them server-side too).
 */
import express, { type Express, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import type { ApiContext } from '../context.js';
import { ApiError, forbidden } from '../errors.js';
import { attemptLogin } from '../auth/login.js';
import { ADMIN_AUDIENCE } from '../auth/tokens.js';
import { ADMIN_COOKIE, adminAccess, cookieValue } from '../middleware/auth.js';
import { labelRoute } from '../middleware/request-context.js';
import { bearerChallenge } from '../middleware/errors.js';

export const BOARD_PATH = '/admin/queues';
export const LOGIN_PATH = '/admin/login';
export const LOGOUT_PATH = '/admin/logout';

const loginForm = z.object({
  email: z
    .string()
    .max(254)
    .trim()
    .toLowerCase()
    .regex(/^[^@\s]+@[^@\s]+$/),
  password: z.string().min(1).max(1024),
  next: z.string().max(2000).optional(),
});

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Only paths inside Bull Board are followed after login (no open redirect). */
function safeNext(value: unknown): string {
  return typeof value === 'string' &&
    /^\/admin\/queues(?:[/?#][^\\\s]*)?$/.test(value) &&
    !value.includes('//')
    ? value
    : BOARD_PATH;
}

function renderLogin(res: Response, status: number, next: string, message?: string): void {
  res
    .status(status)
    .type('html')
    .setHeader('Cache-Control', 'no-store')
    .setHeader(
      'Content-Security-Policy',
      "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    ).send(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>CostWatch · operator login</title>
<style>body{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto;padding:0 1rem}label{display:block;margin:.8rem 0 .2rem}
input{width:100%;padding:.45rem;box-sizing:border-box}button{margin-top:1rem;padding:.5rem 1.2rem}.error{color:#b00020}</style></head>
<body><h1>CostWatch queues</h1><p>Operators only.</p>
${message ? `<p class="error" role="alert">${escapeHtml(message)}</p>` : ''}
<form method="post" action="${LOGIN_PATH}">
<input type="hidden" name="next" value="${escapeHtml(next)}">
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required maxlength="254">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024">
<button type="submit">Sign in</button>
</form></body></html>`);
}

function wantsJson(req: Request): boolean {
  return req.accepts(['html', 'json']) === 'json';
}

/** Cross-site login posts are refused (the session cookie itself is SameSite=Strict). */
function sameOrigin(req: Request): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

/**
 * Bull Board's router, built on its first request: its packages (@bull-board/*, ~7 MB of an idle
 * API process) are loaded only by an API that serves the board, not by every API replica at start.
 */
function lazyBoard(ctx: ApiContext): RequestHandler {
  let router: Promise<RequestHandler> | null = null;
  const build = async (): Promise<RequestHandler> => {
    const [{ createBullBoard }, { BullMQAdapter }, { ExpressAdapter }] = await Promise.all([
      import('@bull-board/api'),
      import('@bull-board/api/bullMQAdapter'),
      import('@bull-board/express'),
    ]);
    const serverAdapter = new ExpressAdapter();
    serverAdapter.setBasePath(BOARD_PATH);
    createBullBoard({
      queues: ctx.queues.all.map(
        (queue) => new BullMQAdapter(queue, { readOnlyMode: ctx.config.BULL_BOARD_READ_ONLY }),
      ),
      serverAdapter,
      options: { uiConfig: { boardTitle: 'CostWatch queues' } },
    });
    return serverAdapter.getRouter();
  };
  return (req, res, next) => {
    router ??= build();
    router.then(
      (handle) => handle(req, res, next),
      (error: unknown) => {
        router = null;
        next(error);
      },
    );
  };
}

export function mountAdminRoutes(app: Express, ctx: ApiContext): void {
  const board = lazyBoard(ctx);

  app.get(LOGIN_PATH, labelRoute(LOGIN_PATH), (req, res) => {
    renderLogin(res, 200, safeNext(req.query.next));
  });

  app.post(
    LOGIN_PATH,
    labelRoute(LOGIN_PATH),
    express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 }),
    async (req, res) => {
      const form = loginForm.safeParse(req.body);
      const next = safeNext(
        typeof req.body === 'object' && req.body !== null
          ? (req.body as Record<string, unknown>).next
          : undefined,
      );
      if (!sameOrigin(req)) {
        renderLogin(res, 403, next, 'cross-site login refused');
        return;
      }
      if (!form.success) {
        renderLogin(res, 400, next, 'enter an email address and a password');
        return;
      }
      try {
        const user = await attemptLogin(ctx, form.data.email, form.data.password, req.ip ?? 'unknown');
        if (user.role !== 'operator') {
          renderLogin(res, 403, next, 'Bull Board is for operators only');
          return;
        }
        const token = await ctx.tokens.sign(
          { userId: user.id, orgId: user.organizationId, role: user.role, version: user.tokenVersion },
          ADMIN_AUDIENCE,
          ctx.adminSessionSeconds,
        );
        res.cookie(ADMIN_COOKIE, token, {
          httpOnly: true,
          sameSite: 'strict',
          secure: req.secure,
          path: '/admin',
          maxAge: ctx.adminSessionSeconds * 1000,
        });
        res.redirect(303, next);
      } catch (error) {
        if (error instanceof ApiError && (error.status === 401 || error.status === 429)) {
          for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
          if (error.status === 401) res.setHeader('WWW-Authenticate', bearerChallenge(undefined));
          renderLogin(res, error.status, next, error.message);
          return;
        }
        throw error;
      }
    },
  );

  app.post(LOGOUT_PATH, labelRoute(LOGOUT_PATH), async (req, res) => {
    const cookie = cookieValue(req, ADMIN_COOKIE);
    const session = cookie ? await ctx.tokens.verify(cookie, ADMIN_AUDIENCE) : null;
    if (session?.jti) await ctx.adminSessions.revoke(session.jti, session.exp);
    res.clearCookie(ADMIN_COOKIE, { httpOnly: true, sameSite: 'strict', path: '/admin' });
    res.redirect(303, LOGIN_PATH);
  });

  app.use(
    BOARD_PATH,
    labelRoute(BOARD_PATH),
    async (req, res, next) => {
      const access = await adminAccess(ctx, req);
      switch (access.kind) {
        case 'ok':
          res.setHeader('Cache-Control', 'no-store');
          next();
          return;
        case 'login':
          if (wantsJson(req)) {
            // Through the error handler, which adds the WWW-Authenticate challenge of every 401.
            throw new ApiError('unauthorized', 'operator login required');
          } else {
            res.redirect(302, `${LOGIN_PATH}?next=${encodeURIComponent(safeNext(req.originalUrl))}`);
          }
          return;
        case 'unauthorized':
          throw new ApiError('unauthorized', 'the bearer token is invalid, expired or revoked');
        case 'forbidden':
          throw forbidden('Bull Board is for operators only');
      }
    },
    board,
  );
}
