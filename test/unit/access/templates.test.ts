import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandTemplates, renderTemplate } from '../../../src/access/templates.js';
import type { ExternalIdentity } from '../../../src/core/types.js';

const identity: ExternalIdentity = { connector: 'corp', subject: 's1', username: 'ana', email: 'ana@example.com', groups: ['a', 'b'], claims: { dept: 'ops' } };

test('policy values expand to one value per combination; a template without a value drops the value', () => {
  assert.deepEqual(expandTemplates(['{{email.local}}', 'dev-{{external.groups}}', 'plain'], identity, 'corp:'), ['ana', 'dev-corp:a', 'dev-corp:b', 'plain']);
  assert.deepEqual(expandTemplates(['{{groups}}.{{groups}}'], identity, ''), ['a.a', 'a.b', 'b.a', 'b.b']);
  assert.deepEqual(expandTemplates(['{{connector}}-{{subject}}-{{username}}'], identity, ''), ['corp-s1-ana']);
  assert.deepEqual(expandTemplates(['{{email}}', '{{roles}}', '{{external}}', '{{nope}}'], { ...identity, email: undefined }, ''), []);
});

test('values are substituted once: an IdP value that looks like a template stays as it is', () => {
  const tricky = { ...identity, claims: { dept: '{{username}} $&' } };
  assert.deepEqual(expandTemplates(['{{external.dept}}/{{username}}'], tricky, ''), ['{{username}} $&/ana']);
  assert.equal(renderTemplate('{{external.dept}}/{{username}}', tricky, { groupPrefix: '' }), '{{username}} $&/ana');
});

test('rendered templates join lists with "," and encode list items only', () => {
  const encode = (item: string) => item.replace(/,/g, '%2C');
  const odd = { ...identity, username: 'a,b', groups: ['x,y', 'z'] };
  assert.equal(renderTemplate('{{username}}|{{groups}}|{{roles}}', odd, { groupPrefix: '', roles: ['dev', 'ops'], listItem: encode }), 'a,b|x%2Cy,z|dev,ops');
  assert.equal(renderTemplate('[{{email}}][{{external.none}}]', { ...identity, email: undefined }, { groupPrefix: '' }), '[][]');
});
