/**
 * pino logger factory. JSON lines at LOG_LEVEL; secrets and tokens are redacted wherever they
 * appear in a logged object (request headers, config, connection strings, errors).
 */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Paths pino censors. Keep in sync with what CostWatch logs (config, req, aws credentials). */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'password_hash',
  '*.password_hash',
  'passwordHash',
  '*.passwordHash',
  'token',
  '*.token',
  'access_token',
  '*.access_token',
  'JWT_SECRET_KEY',
  '*.JWT_SECRET_KEY',
  'JWT_SECRET_KEYS',
  '*.JWT_SECRET_KEYS',
  'CACHE_REDIS_URL',
  '*.CACHE_REDIS_URL',
  'DATABASE_URL',
  '*.DATABASE_URL',
  'REDIS_URL',
  '*.REDIS_URL',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'credentials',
  '*.credentials',
  'SecretAccessKey',
  '*.SecretAccessKey',
  'SessionToken',
  '*.SessionToken',
  'secretAccessKey',
  '*.secretAccessKey',
  'sessionToken',
  '*.sessionToken',
  'externalId',
  '*.externalId',
  // The STS AssumeRole parameter (SDK input objects) and the organizations column.
  'ExternalId',
  '*.ExternalId',
  '*.*.ExternalId',
  'external_id',
  '*.external_id',
  '*.*.external_id',
  // notification channel secrets (webhook signing key, SMTP password)
  'signing_secret',
  '*.signing_secret',
  'signingSecret',
  '*.signingSecret',
  'smtp_password',
  '*.smtp_password',
  'smtpPassword',
  '*.smtpPassword',
  'SMTP_PASSWORD',
  '*.SMTP_PASSWORD',
  '*.smtp.password',
  'headers["x-costwatch-signature"]',
  '*.headers["x-costwatch-signature"]',
];

/** Builds the process logger; `name` is the role (api, worker, ...). */
export function createLogger(options: { level: string; name: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      name: options.name,
      level: options.level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { role: options.name, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
    },
    options.destination,
  );
}

/** Replaces the password of a connection URL, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '[unparseable url]';
  }
}
