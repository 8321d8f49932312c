/** Request and response schemas of /auth. */
import { z } from 'zod';

export const loginQuery = z.strictObject({});

export const loginBody = z
  .strictObject({
    email: z
      .string()
      .max(254, 'must be at most 254 characters')
      .trim()
      .toLowerCase()
      .regex(/^[^@\s]+@[^@\s]+$/, 'must be an email address'),
    password: z.string().min(1, 'must not be empty').max(1024, 'must be at most 1024 characters'),
  })
  .describe('credentials');

export const tokenResponse = z.object({
  access_token: z.string().describe('HS256 JWT; send it as `Authorization: Bearer <token>`'),
  token_type: z.literal('Bearer'),
  expires_in: z.number().int().describe('seconds until the token expires'),
});
