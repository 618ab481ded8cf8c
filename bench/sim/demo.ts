// `npm run demo`: a small simulated on-sale you can watch, on the local stack.
//
// It drives only a stack it started itself, or one named with `--address
// host:port` (e.g. a running `npm start`; the audit then needs MYSQL_URL and
// REDIS_URL, the ones `npm start` printed), never whatever happens to answer
// on a port. Without --address it starts the local stack as `npm start` does
// (Redis, MariaDB and Temporal with its web UI, data in .local/), then the API
// on GRPC_ADDRESS and the worker; if something already answers there it stops
// and says so. It creates a demo
// event, runs bench/sim/scenarios/demo.json with the live progress line,
// prints the funnel and the audit, draws the live seat map as an SVG (printed,
// and written beside the report), and then leaves the stack running with the
// commands to explore it (Ctrl-C stops what the demo started).
import fs from "node:fs";
import path from "node:path";
import { credentials, type ServiceError } from "@grpc/grpc-js";
import {
  EventServiceClient,
  type GetEventResponse,
  type GetSeatMapResponse,
} from "../../src/gen/ticketing/v1/event_service.js";
import { bearerInterceptor, requestTokens } from "../../src/identity/client.js";
import { canConnect, repoRoot } from "../../tools/devstack/stack.js";
import { audit, type AuditResult } from "./audit.js";
import { runSimulation, type Target } from "./driver.js";
import { hasSeatPlan, renderSeatMapSvg } from "./seatmap-svg.js";
import { buildReport, summary, writeReport } from "./report.js";
import { apiEnvFor, loadScenario, workerEnvFor } from "./scenario.js";
import { parseCommand } from "../lib/command.js";
import { installSignalHandlers, localIssuer, say, startApp, startStores, stopOwned } from "./stack.js";

const grpcAddress = process.env.GRPC_ADDRESS || "127.0.0.1:50051";
const localDir = path.join(repoRoot, ".local");

async function answers(address: string): Promise<boolean> {
  const [host, port] = [
    address.slice(0, address.lastIndexOf(":")),
    Number(address.slice(address.lastIndexOf(":") + 1)),
  ];
  return canConnect(port, host);
}

const command = parseCommand({
  usage: "npm run demo --",
  about:
    "A small simulated on-sale you can watch: starts the local stack (as npm start does) unless --address names a running API, runs the scenario with a live progress line, prints the funnel, the audit and an SVG of the live seat map, and leaves the stack it started running (Ctrl-C stops it).",
  flags: {
    address: {
      type: "string",
      value: "host:port",
      description: "drive the API running there instead of starting a stack",
    },
  },
  positionals: [["scenario", "a scenario under bench/sim/scenarios/ (demo)"]],
  env: [
    ["GRPC_ADDRESS", "where the API the demo starts listens (127.0.0.1:50051)"],
    ["MYSQL_URL", "with --address: the MySQL the audit reads"],
    ["REDIS_URL", "with --address: the Redis the audit reads"],
    ["TEMPORAL_TASK_QUEUE", "the worker's task queue (ticketing)"],
  ],
});

/**
 * The live seat map drawn from GetEvent (the seat plan) and GetSeatMap (the
 * seats' states), printed and written beside the report; returns the file,
 * or undefined when the event has no seat plan.
 */
async function drawSeatMap(target: Target, eventId: string, dir: string): Promise<string | undefined> {
  const client = new EventServiceClient(target.address, credentials.createInsecure(), {
    interceptors: [bearerInterceptor(requestTokens(target.issuer, "demo"))],
  });
  try {
    const unary = <Res>(fn: (cb: (err: ServiceError | null, res: Res) => void) => unknown) =>
      new Promise<Res>((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
    const { event } = await unary<GetEventResponse>((cb) => client.getEvent({ eventId }, cb));
    if (!event || !hasSeatPlan(event)) {
      say(`event ${eventId} has no seat plan: no seat map to draw`);
      return undefined;
    }
    const map = await unary<GetSeatMapResponse>((cb) => client.getSeatMap({ eventId }, cb));
    const { svg, seats } = renderSeatMapSvg(event, map);
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `seatmap-${eventId}.svg`);
    fs.writeFileSync(file, svg);
    process.stdout.write(
      `\nThe live seat map (seat map version ${map.version}: ${seats.free} seats free, ${seats.held} held, ${seats.sold} sold), as SVG:\n\n${svg}\nwritten to ${path.relative(process.cwd(), file)} (open it in a browser)\n`,
    );
    return file;
  } finally {
    client.close();
  }
}

async function main(): Promise<number> {
  const scenario = loadScenario(command.positionals[0] || "demo");
  installSignalHandlers();
  const named = command.flags.address;
  let target: Target;
  let mysqlUrl = process.env.MYSQL_URL ?? "";
  let redisUrl = process.env.REDIS_URL ?? "";
  let uiUrl: string | undefined;
  let startedHere = false;
  if (named) {
    if (!(await answers(named))) {
      say(`nothing answers at --address ${named}`);
      return 2;
    }
    say(`using the API at ${named} (its worker's payment settings apply)`);
    if (!mysqlUrl || !redisUrl) {
      say("the audit reads MySQL and Redis: set MYSQL_URL and REDIS_URL to the ones `npm start` printed, e.g.");
      say(
        `  MYSQL_URL=mysql://root@127.0.0.1:<port>/ticketing REDIS_URL=redis://127.0.0.1:<port> npm run demo -- --address ${named}`,
      );
      return 2;
    }
    target = { address: named, issuer: await localIssuer() };
  } else if (await answers(grpcAddress)) {
    say(
      `something already answers at ${grpcAddress}: the demo drives only a stack it starts, or one you name (npm run demo -- --address ${grpcAddress}); or set GRPC_ADDRESS to a free address`,
    );
    return 2;
  } else {
    say(`starting the local stack (data in ${path.relative(process.cwd(), localDir) || localDir}/), as npm start does`);
    fs.mkdirSync(localDir, { recursive: true });
    const stores = await startStores(localDir, { persistentDir: localDir, ui: true });
    uiUrl = stores.temporalUiUrl;
    const metrics = (await canConnect(9464)) ? "off" : "127.0.0.1:9464";
    const app = await startApp(stores, localDir, {
      grpcAddress,
      taskQueue: process.env.TEMPORAL_TASK_QUEUE || "ticketing",
      apiEnv: { ...apiEnvFor(scenario), METRICS_ADDRESS: metrics },
      workerEnv: workerEnvFor(scenario),
    });
    target = { address: app.address, issuer: app.issuer };
    mysqlUrl = stores.mysqlUrl;
    redisUrl = stores.redisUrl;
    startedHere = true;
  }

  say(`demo on-sale: ${scenario.description}`);
  const result = await runSimulation({ target, scenario });
  say("buyers done; auditing (MySQL, Redis, the payment simulator's ledger, VerifyTicket)");
  const a: AuditResult = await audit({ result, target, mysqlUrl, redisUrl });
  const rep = buildReport(result, a, { command: "npm run demo" });
  const files = writeReport(rep, path.join(localDir, "sim-results"));
  process.stdout.write(`\n${summary(rep, files)}\n`);
  const svgFile = await drawSeatMap(target, result.eventId, path.join(localDir, "sim-results"));

  const G = fs.existsSync(path.join(repoRoot, ".tools/bin/grpcurl"))
    ? ".tools/bin/grpcurl -plaintext"
    : "grpcurl -plaintext";
  const ev = result.eventId;
  const someOrder = result.records.flatMap((b) => b.orders).find((o) => o.state === "CONFIRMED");
  const someBuyer = result.records.find((b) => b.orders.some((o) => o.state === "CONFIRMED"))?.id;
  const lines = [
    "",
    "What to look at now:",
    `  the event's seats and funnel:   ${G} -d '{"event_id": "${ev}"}' ${target.address} ticketing.v1.EventService/GetEventSummary`,
    `  the live seat map:              ${G} -d '{"event_id": "${ev}"}' ${target.address} ticketing.v1.EventService/GetSeatMap`,
    ...(someOrder
      ? [
          `  an order with its tickets:      ${G} -d '{"order_id": "${someOrder.orderId}"}' ${target.address} ticketing.v1.OrderService/GetOrder`,
        ]
      : []),
    ...(someBuyer
      ? [
          `  a buyer's place in the queue:   ${G} -d '{"event_id": "${ev}", "buyer_id": "${someBuyer}"}' ${target.address} ticketing.v1.QueueService/GetQueuePosition`,
        ]
      : []),
    ...(someOrder?.tickets[0]
      ? [
          `  scan a ticket at the door:      ${G} -d '{"code": "${someOrder.tickets[0].code}", "gate_id": "north-1", "request_id": "demo-scan-1"}' ${target.address} ticketing.v1.TicketService/CheckIn`,
        ]
      : []),
    `  the ticket signing keys:        ${G} ${target.address} ticketing.v1.QueueService/GetSigningKeys`,
    `  every service:                  ${G} ${target.address} list`,
    uiUrl
      ? `  the checkout workflows:         ${uiUrl}/namespaces/default/workflows (checkout-…, one per hold; hold-sweeper-${ev})`
      : "  the checkout workflows:         the Temporal web UI of your stack (checkout-… workflows)",
    `  the full report:                ${path.relative(process.cwd(), files.md)}`,
    ...(svgFile ? [`  the seat map drawn (SVG):       ${path.relative(process.cwd(), svgFile)}`] : []),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  if (!startedHere) return a.ok ? 0 : 1;
  process.stdout.write(
    `\nThe stack keeps running (API ${target.address}; npm run token -- --operator ops1 signs an operator token for it). Ctrl-C stops it.\n`,
  );
  // Until Ctrl-C: the signal handler stops everything and exits.
  setInterval(() => {}, 1 << 30);
  await new Promise<never>(() => {});
  return 0;
}

try {
  process.exitCode = await main();
} catch (err) {
  say(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
}
await stopOwned();
setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
