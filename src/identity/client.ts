// Client side: a grpc-js interceptor that puts `authorization: Bearer <token>`
// on calls that carry none, choosing the token from the request. The test
// suite and the simulator use it to speak as the buyer a request names, the
// way a storefront forwards its signed-in buyer's token.
import { InterceptingCall, RequesterBuilder, type Interceptor, type Listener, type Metadata } from "@grpc/grpc-js";
import { ID_PATTERN } from "../domain/validation.js";
import type { LocalIssuer, TokenClaims } from "./local-issuer.js";

/** An interceptor that adds the token `tokenFor(request)` to calls without an `authorization` header. */
export function bearerInterceptor(tokenFor: (request: unknown) => string): Interceptor {
  return (options, nextCall) => {
    // The header goes out with the call's start, but the token depends on the
    // request: hold the start back until the message is known.
    let start: { metadata: Metadata; listener: Listener; next: (m: Metadata, l: Listener) => void } | undefined;
    const requester = new RequesterBuilder()
      .withStart((metadata, listener, next) => {
        start = { metadata, listener, next };
      })
      .withSendMessage((message: unknown, next) => {
        const s = start!;
        if (s.metadata.get("authorization").length === 0) {
          s.metadata.set("authorization", `Bearer ${tokenFor(message)}`);
        }
        s.next(s.metadata, s.listener);
        next(message);
      })
      .build();
    return new InterceptingCall(nextCall(options), requester);
  };
}

/**
 * Tokens from a local issuer, signed once per subject: the buyer a request
 * names (`buyerId`), or else the given operator.
 */
export function requestTokens(issuer: LocalIssuer, operator: string): (request: unknown) => string {
  const cache = new Map<string, string>();
  const tokenOf = (claims: TokenClaims, key: string) => {
    let token = cache.get(key);
    if (!token) {
      // Long-lived enough for any run; re-signed if a run outlasts it.
      token = issuer.sign(claims, { ttlSeconds: 24 * 3600 });
      cache.set(key, token);
    }
    return token;
  };
  return (request) => {
    const buyerId = (request as { buyerId?: unknown } | undefined)?.buyerId;
    // A request naming no buyer, or a malformed one, goes as the operator (whose calls validate the name).
    if (typeof buyerId === "string" && ID_PATTERN.test(buyerId)) return tokenOf({ buyer: buyerId }, `b:${buyerId}`);
    return tokenOf({ operator }, `o:${operator}`);
  };
}
