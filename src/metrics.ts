// Prometheus metrics over HTTP (prom-client): per-method latency and codes,
// plus the process defaults. The domain's metrics register in the same
// registry (src/observability/metrics-*.ts).
import { createServer, type Server } from "node:http";
import { status } from "@grpc/grpc-js";
import { collectDefaultMetrics, Counter, Histogram, Registry } from "prom-client";

export class Metrics {
  readonly registry = new Registry();
  private readonly handled: Counter<"grpc_service" | "grpc_method" | "grpc_code">;
  private readonly latency: Histogram<"grpc_service" | "grpc_method">;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.handled = new Counter({
      name: "grpc_server_handled_total",
      help: "RPCs completed on the server, by method and gRPC status code.",
      labelNames: ["grpc_service", "grpc_method", "grpc_code"],
      registers: [this.registry],
    });
    this.latency = new Histogram({
      name: "grpc_server_handling_seconds",
      help: "Time from receiving an RPC to its status, by method.",
      labelNames: ["grpc_service", "grpc_method"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
  }

  /** An observer for one method, its label children cached (the call path is hot). */
  forMethod(path: string): (code: status, seconds: number) => void {
    const slash = path.lastIndexOf("/");
    const labels = { grpc_service: path.slice(1, slash), grpc_method: path.slice(slash + 1) };
    const latency = this.latency.labels(labels);
    const byCode = new Map<status, ReturnType<typeof this.handled.labels>>();
    return (code, seconds) => {
      let counter = byCode.get(code);
      if (!counter) {
        counter = this.handled.labels({ ...labels, grpc_code: status[code] ?? String(code) });
        byCode.set(code, counter);
      }
      counter.inc();
      latency.observe(seconds);
    };
  }

  /** Serves GET /metrics on host:port; resolves with the bound port. `extra` appends text (e.g. the Temporal SDK's). */
  serve(address: string, extra?: () => Promise<string>): Promise<{ server: Server; port: number }> {
    return serveMetrics(address, this.registry.contentType, async () => {
      const [own, more] = await Promise.all([this.registry.metrics(), extra?.() ?? ""]);
      return more ? `${own}\n${more}` : own;
    });
  }
}

/** Serves GET /metrics on host:port with `render`'s text; resolves with the bound port. */
export async function serveMetrics(
  address: string,
  contentType: string,
  render: () => Promise<string>,
): Promise<{ server: Server; port: number }> {
  const [host, port] = splitHostPort(address);
  const server = createServer((req, res) => {
    if (req.url !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    render().then(
      (body) => res.writeHead(200, { "content-type": contentType }).end(body),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  return { server, port: typeof bound === "object" && bound ? bound.port : port };
}

export function splitHostPort(address: string): [string, number] {
  const i = address.lastIndexOf(":");
  return [address.slice(0, i), Number(address.slice(i + 1))];
}
