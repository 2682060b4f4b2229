import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkReturnTo } from '../../../src/web/return-to.js';

const options = { publicUrl: 'https://gate.example.com', allowedHosts: ['*.apps.example.com', 'wiki.example.com'] };

test('return_to accepts same-origin paths and allowed hosts', () => {
  assert.equal(checkReturnTo(undefined, options), '/');
  assert.equal(checkReturnTo('/audit?x=1#y', options), '/audit?x=1#y');
  assert.equal(checkReturnTo('https://gate.example.com/recordings', options), 'https://gate.example.com/recordings');
  assert.equal(checkReturnTo('https://grafana.apps.example.com/d/1', options), 'https://grafana.apps.example.com/d/1');
  assert.equal(checkReturnTo('https://wiki.example.com/', options), 'https://wiki.example.com/');
});

test('return_to refuses open redirects', () => {
  for (const bad of [
    'https://evil.example',
    '//evil.example',
    '/\\evil.example',
    '\\\\evil.example',
    'javascript:alert(1)',
    'http://grafana.apps.example.com/',
    'https://apps.example.com.evil.example/',
    'https://x@evil.example/',
    'https://user:pw@wiki.example.com/',
    '/ok\r\nLocation: https://evil.example',
    `/${'a'.repeat(3000)}`,
    ['array'],
  ]) {
    assert.throws(() => checkReturnTo(bad, options), { code: 'return_to_rejected' }, String(bad));
  }
});
