/**
 * authx: JWT authentication for TypeScript. Access and refresh tokens, freshness, scopes,
 * revocation and everything around them.
 *
 * @example
 * ```ts
 * import { AuthX } from 'authx'
 * const auth = new AuthX({ secretKey: process.env.JWT_SECRET_KEY })
 * const token = await auth.createAccessToken({ uid: 'user123', fresh: true })
 * const payload = await auth.verifyToken(token)
 * ```
 * @module
 */
export {
  type AdapterOptions,
  type AuthXAdapter,
  adapterFor,
  adapterOptions,
  guardMisuse,
  managedAdapter,
  ownLoginType,
  type PolicyGuardOptions,
  policyCheck,
  type RateLimitedRequest,
  type ReadyMadeRoutes,
  rateLimitCheck,
  readyMadeRoutes,
  routeOrFactory,
} from './core/adapter.js'
export type { Algorithm } from './core/algorithms.js'
export {
  type AuthenticateOptions,
  AuthX,
  type CookieCallOptions,
  type JwkSet,
  type RequestGuard,
  type SubjectGetter,
  type UnverifiedToken,
  type VerifyTokenOptions,
} from './core/authx.js'
export { scopeArguments } from './core/call-options.js'
export type {
  CreateAccessTokenOptions,
  CreateRefreshTokenOptions,
  CreateTokenPairOptions,
  TokenPair,
} from './core/claims.js'
export type { ResolvedConfig } from './core/config.js'
export { renewedCookiesFor, serializeCookie } from './core/cookies.js'
export type { DPoPAlgorithm, DPoPNonceOptions, DPoPOptions } from './core/dpop/index.js'
export { type Duration, parseDuration } from './core/duration.js'
export { ENV_NAMES, optionsFromEnv } from './core/env.js'
export {
  AccessTokenRequiredError,
  AuthXError,
  type AuthXErrorCode,
  type AuthXErrorJSON,
  ConfigError,
  CSRFError,
  DPoPNonceError,
  DPoPProofError,
  type DPoPProofReason,
  FreshTokenRequiredError,
  InsufficientScopeError,
  InvalidTokenError,
  type InvalidTokenReason,
  LoginTypeMismatchError,
  MissingTokenError,
  PolicyDeniedError,
  RateLimitError,
  RefreshTokenRequiredError,
  RefreshTokenReusedError,
  RevokedTokenError,
  StoreUnavailableError,
  TokenExpiredError,
  TokenTypeError,
} from './core/errors.js'
export type { AuthXEventName, AuthXEvents, AuthXListener } from './core/events.js'
export type { GetTokenOptions, RequestToken } from './core/extract.js'
export type { KeyInput } from './core/keys.js'
export {
  AuthManager,
  isAuthManager,
  type ManagerAuthenticateOptions,
  type ManagerVerifyOptions,
} from './core/manager.js'
export type {
  OpenAPIApiKeyScheme,
  OpenAPIBearerScheme,
  OpenAPIOptions,
  OpenAPISchemeName,
  OpenAPISecurity,
  OpenAPISecurityRequirement,
  OpenAPISecurityScheme,
  OpenAPISecuritySchemes,
} from './core/openapi.js'
export type {
  AuthXOptions,
  CacheOptions,
  CookieOptions,
  CsrfOptions,
  HeaderOptions,
  ImplicitRefreshOptions,
  JsonOptions,
  KeySetEntry,
  QueryOptions,
  RefreshRotationOptions,
  RevocationOptions,
  TokenLocation,
  VerifyOptions,
  WebSocketOptions,
} from './core/options.js'
export { TokenPayload, type TokenType } from './core/payload.js'
export {
  Policy,
  type PolicyContext,
  type PolicyDecision,
  type PolicyEnv,
  type PolicyOptions,
  type PolicyRequest,
  type PolicyRule,
} from './core/policy.js'
export {
  clientAddress,
  type LimitedRequest,
  limitRequest,
  type RateLimitBy,
  RateLimiter,
  type RateLimiterOptions,
  type RateLimitResult,
} from './core/rate-limit.js'
export type { RemoteKeySetCache, RemoteKeySetEntry, RemoteKeySetOptions } from './core/remote-keys.js'
export {
  type AuthXRequest,
  decodedPath,
  fromWebRequest,
  isFormContentType,
  isJsonContentType,
  type ParsedRequestParts,
  parseCookieHeader,
  parsedRequestView,
  type RequestLike,
  type RequestReader,
  type RouteMatching,
  readerView,
  sameRoute,
} from './core/request.js'
export {
  type ErrorBodyFormatter,
  type ErrorResponseParts,
  errorResponse,
  errorToResponse,
  isAuthXError,
} from './core/response.js'
export type { RefreshOptions } from './core/rotation.js'
export {
  type FromPayload,
  type LogoutAnswer,
  type LogoutRouteOptions,
  logoutRouteOptions,
  logoutSuccess,
  mergeSetCookies,
  type RefreshRouteOptions,
  type RouteAnswer,
} from './core/routes.js'
export { hasAllScopes, hasSomeScope, scopeGrants } from './core/scopes.js'
export { type Session, type SessionInput, Sessions } from './core/sessions.js'
export type { AuthXStore, RateLimitHit, StoreEventListener, StoreEvents } from './core/store.js'
export type {
  TelemetryAttributes,
  TelemetryCounter,
  TelemetryHistogram,
  TelemetryMeter,
  TelemetryOptions,
  TelemetrySpan,
  TelemetrySpanOptions,
  TelemetryTracer,
} from './core/telemetry.js'
export { ACCESS_TYP, REFRESH_TYP, type TokenTypesOption } from './core/token-types.js'
export {
  BEARER_PROTOCOL_PREFIX,
  selectProtocol,
  type UpgradeRequest,
  type WebSocketAuthOptions,
  type WebSocketToken,
  websocketAuthOptions,
  websocketToken,
} from './core/websocket.js'
export { MemoryStore, type MemoryStoreOptions } from './stores/memory.js'
