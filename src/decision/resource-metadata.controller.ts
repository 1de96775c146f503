import { Controller, Get, NotFoundException, Param, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { RESOURCE_METADATA_PREFIX, resourceMetadataPath } from '../common/resource-metadata.js';
import { ToolgateConfig, type ServerConfig } from '../config/config.schema.js';

/** RFC 9728 protected-resource metadata for one configured server. */
export function protectedResourceMetadata(server: ServerConfig): Record<string, unknown> {
  return {
    resource: server.resource,
    authorization_servers: server.issuers,
    scopes_supported: server.scopes_supported,
    bearer_methods_supported: ['header'],
    ...(server.resource_name ? { resource_name: server.resource_name } : {}),
  };
}

/**
 * Serves `/.well-known/oauth-protected-resource/<path of resource>` for every
 * configured server, publishing only what toolgate itself validates.
 */
@ApiTags('metadata')
@Controller('.well-known/oauth-protected-resource')
export class ResourceMetadataController {
  private readonly byPath = new Map<string, ServerConfig>();

  constructor(config: ToolgateConfig) {
    for (const s of config.servers) this.byPath.set(resourceMetadataPath(s.resource), s);
  }

  @Get()
  root(@Res() reply: FastifyReply): void {
    this.send('', reply);
  }

  @Get('*')
  byResourcePath(@Param('*') path: string, @Res() reply: FastifyReply): void {
    this.send(String(path ?? '').replace(/\/$/, ''), reply);
  }

  /** `path`: the resource path after the well-known prefix, without leading or trailing slash. */
  private send(path: string, reply: FastifyReply): void {
    const server = this.byPath.get(path ? `${RESOURCE_METADATA_PREFIX}/${path}` : RESOURCE_METADATA_PREFIX);
    if (!server) throw new NotFoundException(`no protected resource is configured at /${path}`);
    void reply.header('cache-control', 'public, max-age=300').send(protectedResourceMetadata(server));
  }
}
