import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword, passwordProblem, verifyPassword } from './passwords.js';

test('the password rule accepts passphrases and rejects trivially weak passwords', () => {
  for (const ok of [
    'correct horse battery staple',
    'Tr0ub4dor&3-horse',
    'vX9#mQ2!pL7@',
    'ünïcödé-pässwörd-42',
  ]) {
    assert.equal(passwordProblem(ok, 'ana@example.com'), null, ok);
  }
  const weak: [string, RegExp][] = [
    ['short-1', /at least 12/],
    ['aaaaaaaaaaaaaaaa', /different characters/],
    ['abcdefghijklmnop', /consecutive/],
    ['123456789012', /consecutive/],
    ['zyxwvutsrqponm', /consecutive/],
    ['qwertyuiopasdf', /consecutive|common/],
    ['abc123abc123abc1', /repeated|different/],
    ['abcdefabcdef', /repeated/],
    ['MyPassword2024!', /common password/],
    ['costwatch-rocks-2026', /common password/],
    ['ana.smith-secure-7', /email name/],
    ['x'.repeat(10) + 'é'.repeat(40), /72 bytes/],
    ['tab\tinside-password', /control/],
  ];
  for (const [password, reason] of weak)
    assert.match(passwordProblem(password, 'ana.smith@example.com') ?? 'accepted', reason, password);
});

test('bcrypt hashes at the requested cost and verifies; a malformed hash is a mismatch', async () => {
  const hash = await hashPassword('correct horse battery staple', 4);
  assert.match(hash, /^\$2b\$04\$/);
  assert.equal(await verifyPassword('correct horse battery staple', hash), true);
  assert.equal(await verifyPassword('wrong', hash), false);
  assert.equal(await verifyPassword('x', 'not-a-hash'), false);
});
