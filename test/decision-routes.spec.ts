import { mkdtemp, rm, writeFile, mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BadRequestException, HttpException, NotFoundException } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { PATH_METADATA } from '@nestjs/common/constants.js';
import type { FastifyInstance } from 'fastify';
import { answerFor } from '../src/common/error.filter.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp, type RunningApp } from './support/app.js';
import { AuditService } from '../src/audit/audit.service.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';
const ROUTES = ['/v1/decisions', '/v1/decisions/tools', '/v1/decisions/list', '/v1/decisions/authenticate'];

/**
 * A policy that answers each tool name with a different breach of the
 * contract (README, "Policy contract"), and `fine` with a well-formed allow.
 * `conflict` makes the complete rule take two values: an evaluation error.
 */
const BROKEN_POLICY = `package mcp.authz

# METADATA
# entrypoint: true
# scope: document

decision := {"allow": true, "reasons": ["ok"], "required_scopes": []} if input.tool.name == "fine"

decision := {"allow": "yes", "reasons": [], "required_scopes": []} if input.tool.name == "allow_not_boolean"

decision := {"reasons": [], "required_scopes": []} if input.tool.name == "allow_missing"

decision := {"allow": false, "reasons": [1], "required_scopes": []} if input.tool.name == "reasons_not_strings"

decision := {"allow": false, "reasons": [], "required_scopes": "refunds:write"} if input.tool.name == "scopes_not_array"

decision := "allow" if input.tool.name == "not_an_object"

decision := {"allow": false, "reasons": null} if input.tool.name == "reasons_null"

decision := {"allow": true} if input.tool.name == "conflict"

decision := {"allow": false} if input.tool.name == "conflict"
`;

describe('the decision routes: one implementation, described by OpenAPI, failing closed', () => {
  let idp: TestIssuer;
  let app: RunningApp;
  let dir: string;
  let token: string;

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-routes-'));
    await mkdir(path.join(dir, 'policies/mcp/authz'), { recursive: true });
    await writeFile(path.join(dir, 'policies/mcp/authz/decision.rego'), BROKEN_POLICY);
    await mkdir(path.join(dir, 'tests'));
    app = await startApp({
      policy: { source: { policies: path.join(dir, 'policies'), tests: path.join(dir, 'tests'), out: path.join(dir, 'build'), test_gate: false, watch: false } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer], scopes_supported: ['refunds:write'] }],
      decision_logs: { file: { path: path.join(dir, 'decisions.jsonl') } },
    });
    token = await idp.sign({ sub: 'alice', aud: RESOURCE, scope: 'refunds:write' });
  });

  afterAll(async () => {
    await app?.close();
    await idp?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('each decision route is a plain Fastify route and no Nest controller declares it (so no Nest guard is silently skipped)', () => {
    const fastify = app.app.getHttpAdapter().getInstance() as FastifyInstance;
    for (const url of ROUTES) expect(fastify.hasRoute({ method: 'POST', url })).toBe(true);
    const controllerPaths: string[] = [];
    for (const mod of app.app.get(ModulesContainer).values()) {
      for (const c of mod.controllers.values()) if (c.metatype) controllerPaths.push(String(Reflect.getMetadata(PATH_METADATA, c.metatype) ?? ''));
    }
    expect(controllerPaths.length).toBeGreaterThan(0);
    expect(controllerPaths.filter((p) => p.replace(/^\//, '').startsWith('v1/decisions'))).toEqual([]);
  });

  it('/openapi.json describes every decision route with its request and response schemas', async () => {
    type Schema = { $ref?: string; properties?: Record<string, unknown> };
    type Op = { requestBody: { content: Record<string, { schema: Schema }> }; responses: Record<string, { content?: Record<string, { schema: Schema }> }> };
    const doc = (await app.get('/openapi.json')).body as { paths: Record<string, { post?: Op }>; components: { schemas: Record<string, Schema> } };
    const resolve = (s: Schema | undefined): Schema => {
      const name = s?.$ref?.replace('#/components/schemas/', '');
      expect(name && doc.components.schemas[name]).toBeTruthy();
      return doc.components.schemas[name!];
    };
    const expected: Record<string, [string[], string[]]> = {
      '/v1/decisions': [['token', 'server', 'action', 'tool', 'resource', 'prompt', 'completion'], ['decision_id', 'allow', 'reasons', 'code', 'http_status', 'www_authenticate']],
      '/v1/decisions/tools': [['token', 'server', 'tools'], ['decision_id', 'allowed']],
      '/v1/decisions/list': [['token', 'server', 'kind', 'items'], ['decision_id', 'allowed']],
      '/v1/decisions/authenticate': [['token', 'server'], ['decision_id', 'allow', 'code']],
    };
    for (const url of ROUTES) {
      const op = doc.paths[url]?.post;
      expect(op).toBeDefined();
      expect(Object.keys(resolve(op!.requestBody.content['application/json'].schema).properties ?? {})).toEqual(expect.arrayContaining(expected[url][0]));
      expect(Object.keys(resolve(op!.responses['200'].content?.['application/json'].schema).properties ?? {})).toEqual(expect.arrayContaining(expected[url][1]));
      expect(Object.keys(resolve(op!.responses['400'].content?.['application/json'].schema).properties ?? {})).toEqual(['code', 'message']);
    }
  });

  it('a well-formed answer from the same policy allows (the cases below fail for their answer, not the setup)', async () => {
    const res = await app.post('/v1/decisions', { token, server: 'demo', tool: { name: 'fine' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ allow: true, reasons: ['ok'] });
  });

  it.each([
    ['an undefined decision', 'no_rule_matches'],
    ['a non-boolean allow', 'allow_not_boolean'],
    ['no allow at all', 'allow_missing'],
    ['non-string reasons', 'reasons_not_strings'],
    ['required_scopes not an array', 'scopes_not_array'],
    ['null reasons', 'reasons_null'],
    ['a decision that is not an object', 'not_an_object'],
    ['an evaluation error (conflicting values)', 'conflict'],
  ])('%s is policy_error: a deny the MCP server answers with 500', async (_name, tool) => {
    const res = await app.post('/v1/decisions', { token, server: 'demo', tool: { name: tool } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ allow: false, code: 'policy_error', http_status: 500, reasons: ['the policy could not be evaluated; denied'] });
  });

  it('a policy_error after the token verified still logs who asked (issuer and subject of the verified token)', async () => {
    const res = await app.post('/v1/decisions', { token, server: 'demo', tool: { name: 'conflict' } });
    expect(res.body).toMatchObject({ allow: false, code: 'policy_error' });
    await app.app.get(AuditService).flush();
    const events = (await readFile(path.join(dir, 'decisions.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { decision_id: string; token?: Record<string, unknown> });
    const event = events.find((e) => e.decision_id === res.body.decision_id);
    expect(event?.token).toMatchObject({ issuer: idp.issuer, subject: expect.any(String) });
  });

  it('a list hides every item whose answer is malformed, and keeps the well-formed allow', async () => {
    const tools = ['fine', 'allow_not_boolean', 'reasons_not_strings', 'not_an_object', 'conflict', 'no_rule_matches'].map((name) => ({ name }));
    const res = await app.post('/v1/decisions/tools', { token, server: 'demo', tools });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ allowed: ['fine'] });
    expect(res.body.code).toBeUndefined();
  });

  it('a malformed body still leaves the plain routes as 400 {code, message}', async () => {
    for (const url of ROUTES) {
      const res = await app.post(url, '{"server":');
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ code: 'invalid_json', message: expect.any(String) });
    }
  });
});

describe('answerFor classifies by class and code, never by message text', () => {
  const fastifyError = (code: string, statusCode: number) => Object.assign(new Error('whatever the library says'), { name: 'FastifyError', code, statusCode });

  it('a 4xx whose message mentions JSON is invalid_request, not invalid_json', () => {
    expect(answerFor(new BadRequestException('the JSON field "constructor" is wrong')).body.code).toBe('invalid_request');
    expect(answerFor(new HttpException('Unexpected token', 400)).body.code).toBe('invalid_request');
  });

  it('Fastify body errors are classified by their FST code, raw or wrapped by Nest', () => {
    const json = fastifyError('FST_ERR_CTP_INVALID_JSON_BODY', 400);
    expect(answerFor(json)).toMatchObject({ status: 400, body: { code: 'invalid_json' } });
    expect(answerFor(new HttpException(json.message, 400, { cause: json }))).toMatchObject({ status: 400, body: { code: 'invalid_json' } });
    const big = fastifyError('FST_ERR_CTP_BODY_TOO_LARGE', 413);
    expect(answerFor(new HttpException(big.message, 413, { cause: big }))).toMatchObject({ status: 400, body: { code: 'body_too_large' } });
    expect(answerFor(new NotFoundException('no route')).body.code).toBe('not_found');
  });
});
