import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRequestInfo } from '../../../../src/proxy/kube/request-info.js';

const pick = (method: string, url: string) => {
  const i = parseRequestInfo(method, url);
  return [i.verb, i.apiGroup, i.resource, i.subresource, i.namespace, i.name, i.discovery];
};

test('verbs, groups, resources, subresources, namespaces and names as kube-apiserver parses them', () => {
  assert.deepEqual(pick('GET', '/api/v1/namespaces/a/pods'), ['list', '', 'pods', undefined, 'a', undefined, false]);
  assert.deepEqual(pick('GET', '/api/v1/namespaces/a/pods?watch=true&resourceVersion=1'), ['watch', '', 'pods', undefined, 'a', undefined, false]);
  assert.deepEqual(pick('GET', '/api/v1/watch/namespaces/a/pods'), ['watch', '', 'pods', undefined, 'a', undefined, false]);
  assert.deepEqual(pick('GET', '/api/v1/namespaces/a/pods/web-1'), ['get', '', 'pods', undefined, 'a', 'web-1', false]);
  assert.deepEqual(pick('GET', '/api/v1/namespaces/a/pods/web-1/log?follow=true'), ['get', '', 'pods', 'log', 'a', 'web-1', false]);
  assert.deepEqual(pick('POST', '/api/v1/namespaces/a/pods/web-1/exec?command=sh'), ['create', '', 'pods', 'exec', 'a', 'web-1', false]);
  assert.deepEqual(pick('GET', '/api/v1/namespaces/a/pods/web-1/exec?command=sh'), ['create', '', 'pods', 'exec', 'a', 'web-1', false]);
  assert.deepEqual(pick('POST', '/apis/apps/v1/namespaces/a/deployments'), ['create', 'apps', 'deployments', undefined, 'a', undefined, false]);
  assert.deepEqual(pick('PUT', '/apis/apps/v1/namespaces/a/deployments/d/scale'), ['update', 'apps', 'deployments', 'scale', 'a', 'd', false]);
  assert.deepEqual(pick('PATCH', '/apis/apps/v1/namespaces/a/deployments/d'), ['patch', 'apps', 'deployments', undefined, 'a', 'd', false]);
  assert.deepEqual(pick('DELETE', '/apis/apps/v1/namespaces/a/deployments/d'), ['delete', 'apps', 'deployments', undefined, 'a', 'd', false]);
  assert.deepEqual(pick('DELETE', '/api/v1/namespaces/a/pods'), ['deletecollection', '', 'pods', undefined, 'a', undefined, false]);
  assert.deepEqual(pick('GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles'), [
    'list',
    'rbac.authorization.k8s.io',
    'clusterroles',
    undefined,
    undefined,
    undefined,
    false,
  ]);
  assert.deepEqual(pick('GET', '/api/v1/namespaces/a/pods?fieldSelector=metadata.name%3Dweb-1'), ['list', '', 'pods', undefined, 'a', 'web-1', false]);
});

test('namespaces are themselves a resource; status and finalize are their subresources', () => {
  assert.deepEqual(pick('GET', '/api/v1/namespaces'), ['list', '', 'namespaces', undefined, undefined, undefined, false]);
  assert.deepEqual(pick('GET', '/api/v1/namespaces/a'), ['get', '', 'namespaces', undefined, 'a', 'a', false]);
  assert.deepEqual(pick('PUT', '/api/v1/namespaces/a/finalize'), ['update', '', 'namespaces', 'finalize', 'a', 'a', false]);
});

test('discovery and other non-resource paths', () => {
  for (const path of ['/api', '/apis', '/api/v1', '/apis/apps', '/apis/apps/v1', '/version', '/openapi/v3', '/openapi/v3/api/v1']) {
    const info = parseRequestInfo('GET', path);
    assert.equal(info.resourceRequest, false, path);
    assert.equal(info.discovery, true, path);
    assert.equal(info.verb, 'get');
  }
  assert.equal(parseRequestInfo('GET', '/healthz').discovery, false);
  assert.equal(parseRequestInfo('POST', '/api').discovery, false);
  assert.equal(parseRequestInfo('GET', '/metrics').resourceRequest, false);
});
