// `npm run token -- --buyer alice | --operator ops1 | --gate north-1 --event demo`
// Prints a bearer token signed by the local development issuer (the one the
// API verifies when no AUTH_ISSUER is configured), for grpcurl and scripts:
//   grpcurl -H "authorization: Bearer $(npm run -s token -- --buyer alice)" ...
import { parseArgs } from "node:util";
import { ensureLocalIssuer, type TokenClaims } from "../src/identity/local-issuer.js";

const usage = `usage: npm run -s token -- (--buyer ID | --operator NAME | --gate ID --event EVENT_ID...) [options]

Prints a JWT signed by the local development issuer (AUTH_LOCAL_ISSUER_DIR,
default .local/issuer, created on first use), which the API accepts when no
AUTH_ISSUER is configured. In production tokens come from your OpenID issuer.

  --buyer ID         a buyer (scope tickets:buy) acting as ID
  --operator NAME    an operator (scope tickets:operate), named in the audit log
  --gate ID          a gate scanner (scope tickets:scan) ...
  --event EVENT_ID   ... for this event (repeat for several)
  --ttl SECONDS      lifetime (default 3600)
  --dir DIR          the issuer's directory (default $AUTH_LOCAL_ISSUER_DIR or .local/issuer)
  -h, --help         this text`;

function main(): number {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        buyer: { type: "string" },
        operator: { type: "string" },
        gate: { type: "string" },
        event: { type: "string", multiple: true },
        ttl: { type: "string" },
        dir: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${usage}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const kinds = [values.buyer, values.operator, values.gate].filter((v) => v !== undefined);
  if (kinds.length !== 1) {
    process.stderr.write(`name exactly one of --buyer, --operator, --gate\n${usage}\n`);
    return 2;
  }
  if (values.gate !== undefined && !values.event?.length) {
    process.stderr.write(`--gate needs at least one --event\n${usage}\n`);
    return 2;
  }
  const ttlSeconds = values.ttl === undefined ? 3600 : Number(values.ttl);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) {
    process.stderr.write(`--ttl must be a positive number of seconds\n`);
    return 2;
  }
  const claims: TokenClaims =
    values.buyer !== undefined
      ? { buyer: values.buyer }
      : values.operator !== undefined
        ? { operator: values.operator }
        : { gate: values.gate!, events: values.event! };
  const dir = values.dir ?? (process.env.AUTH_LOCAL_ISSUER_DIR || ".local/issuer");
  void ensureLocalIssuer(dir).then(
    (issuer) => process.stdout.write(`${issuer.sign(claims, { ttlSeconds })}\n`),
    (err: unknown) => {
      process.stderr.write(`token: ${(err as Error).message}\n`);
      process.exitCode = 1;
    },
  );
  return 0;
}

process.exitCode = main();
