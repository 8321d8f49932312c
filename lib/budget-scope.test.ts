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

test('scopes: tag and cost category dimensions through the dimension registry', () => {
  assert.deepEqual(validateBudgetScope({ 'tag:team': 'payments' }), {
    ok: true,
    scope: { 'tag:team': ['payments'] },
  });
  assert.deepEqual(validateBudgetScope({ 'cost_category:Product': ['Checkout', '(uncategorized)'] }), {
    ok: true,
    scope: { 'cost_category:Product': ['Checkout', '(uncategorized)'] },
  });
  assert.deepEqual(validateBudgetScope({ usage_type: 'BoxUsage:m5.large' }), {
    ok: true,
    scope: { usage_type: ['BoxUsage:m5.large'] },
  });
  const badTag = validateBudgetScope({ 'tag:': 'x' });
  assert.equal(!badTag.ok && badTag.field, 'scope.tag:');
  const dollar = validateBudgetScope({ 'tag:a$b': 'x' });
  assert.equal(!dollar.ok && dollar.field, 'scope.tag:a$b');
  const two = validateBudgetScope({ 'tag:team': 'a', service: 'b' });
  assert.equal(two.ok, false);
});
