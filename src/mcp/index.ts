/**
 * `toolgate/mcp`: the guard for MCP servers on Streamable HTTP and the
 * HTTP decider that asks a toolgate service. Light on purpose: nothing here
 * loads Nest, the policy engine or an MCP SDK at runtime. The decider that
 * runs toolgate inside the MCP server's process is `toolgate/mcp/embedded`.
 */
export { createMcpGuard, decisionRequestFor, DECIDED_METHODS, guardLists } from './guard.js';
export type { GuardAuthInfo, GuardableServer, McpGuardOptions, McpRequestHandlerHost } from './guard.js';
export { HttpDecider, denial, denialForAnswer, listDenial } from './decider.js';
export type { Decider, GuardAuthenticateRequest, GuardDecisionRequest, GuardListRequest } from './decider.js';
export { HEADER_MISMATCH, headerMismatch } from './request-headers.js';
export { bearerToken, protectedResourceMetadataPath, protectedResourceMetadataUrl } from './http-auth.js';
export { SUPPORTED_SDKS, UnsupportedSdkError, assertSupportedSdk, installedVersion, type SdkLine } from './sdk-support.js';
export type { DecisionResult, ToolsResult } from '../decision/decision-result.js';
export { TOOLGATE_VERSION } from '../version.js';
