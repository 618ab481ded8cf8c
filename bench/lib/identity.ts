// The benchmarks' identity: the APIs they start trust a local issuer of their
// own (AUTH_LOCAL_ISSUER_DIR), and every call carries a token it signed. ghz
// and the drivers call as an operator acting for the buyer each request names
// (one token, verified once and then served from the API's token cache, as a
// storefront's buyer tokens are after their first call); the call budget is
// off so that a load generator is not throttled as one buyer.
import path from "node:path";
import { bearerInterceptor } from "../../src/identity/client.js";
import { ensureLocalIssuer } from "../../src/identity/local-issuer.js";
import { repoRoot } from "../../tools/devstack/stack.js";

const issuer = await ensureLocalIssuer(process.env.BENCH_ISSUER_DIR || path.join(repoRoot, ".local", "bench-issuer"));

/** What an API a benchmark starts needs in its environment. */
export const benchAuthEnv: Record<string, string> = {
  AUTH_LOCAL_ISSUER_DIR: issuer.dir,
  AUTH_CALL_BUDGET_PER_SECOND: "0",
};

/** The operator token every benchmark call carries (valid for a day). */
export const benchToken = issuer.sign({ operator: "bench" }, { ttlSeconds: 24 * 3600 });

/** grpc-js client options that add the token to every call. */
export const benchClientOptions = { interceptors: [bearerInterceptor(() => benchToken)] };
