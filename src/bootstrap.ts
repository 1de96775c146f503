import 'reflect-metadata';
import type { LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module.js';
import { ErrorFilter, frameworkErrorReply } from './common/error.filter.js';
import { installHttpEdge, serverTimeoutOptions } from './common/http-edge.js';
import type { ToolgateConfig } from './config/config.schema.js';
import { DECISION_MODELS, describeDecisionRoutes } from './decision/decision.routes.js';
import { TOOLGATE_VERSION } from './version.js';

/** Options for creating the HTTP application. */
export interface CreateAppOptions {
  logger?: false | LogLevel[];
}

/**
 * Creates (but does not start) the toolgate HTTP application on Fastify.
 * The HTTP edge (timeouts, connection caps, Host, Origin, media type) runs
 * before every route. Body size is enforced by Fastify before parsing; every error, including
 * Fastify's own parse errors (which Nest routes to its exception layer),
 * leaves through ErrorFilter as {code, message}.
 */
export async function createApp(config: ToolgateConfig, opts: CreateAppOptions = {}): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: config.limits.body_bytes,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    trustProxy: false,
    frameworkErrors: frameworkErrorReply,
    ...serverTimeoutOptions(config.http),
  });
  const instance = adapter.getInstance();
  // Only application/json bodies are parsed: Fastify's text/plain parser goes, and Nest adds no form parser (bodyParser: false).
  instance.removeContentTypeParser('text/plain');
  // Before any route: connection caps, Host, Origin and media type (src/common/http-edge.ts).
  installHttpEdge(instance, config);
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forConfig(config), adapter, {
    logger: opts.logger ?? ['log', 'warn', 'error'],
    abortOnError: false,
    bodyParser: false,
  });
  app.useGlobalFilters(new ErrorFilter());
  const fastify = app.getHttpAdapter().getInstance();
  const doc = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('toolgate')
      .setDescription('Runtime authorization decisions for MCP tool calls. See README for codes and the policy contract.')
      .setVersion(TOOLGATE_VERSION)
      .build(),
    // The decision routes are plain Fastify routes (DecisionRoutes), which Nest cannot see: described from their table.
    { extraModels: DECISION_MODELS },
  );
  describeDecisionRoutes(doc);
  fastify.get('/openapi.json', (_req, reply) => {
    void reply.send(doc);
  });
  app.enableShutdownHooks();
  return app;
}
