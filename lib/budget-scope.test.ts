import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateBudgetScope } from './budget-scope.js';

test('scopes: known dimensions, non-empty values, one dimension, normalized to lists', () => {
  assert.deepEqual(validateBudgetScope(undefined), { ok: true, scope: {} });
  assert.deepEqual(validateBudgetScope({ service: 'Amazon EC2' }), {
    ok: true,
    scope: { service: ['Amazon EC2'] },
  });
  assert.deepEqual(validateBudgetScope({ region: ['us-east-1', 'us-east-1', 'eu-west-1'] }), {
    ok: true,
    scope: { region: ['us-east-1', 'eu-west-1'] },
  });
  const unknown = validateBudgetScope({ team: 'x' });
  assert.equal(unknown.ok, false);
  assert.equal(!unknown.ok && unknown.field, 'scope.team');
  const empty = validateBudgetScope({ service: '  ' });
  assert.equal(!empty.ok && empty.field, 'scope.service');
  const none = validateBudgetScope({ account: [] });
  assert.equal(!none.ok && none.field, 'scope.account');
  const two = validateBudgetScope({ service: 'a', region: 'b' });
  assert.equal(!two.ok && two.field, 'scope.region');
});
