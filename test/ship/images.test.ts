// What can be checked of the images and docker-compose.yml without a Docker
// engine: the compose file parses, the API and the worker get only variables
// the configuration reads (a misspelt one would be ignored silently) with
// values it accepts, start order waits on health, and the Dockerfile has the
// two targets, health checks and an unprivileged user.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { CONFIG_VARIABLES, loadConfig } from "../../src/config.js";

const root = new URL("../../", import.meta.url);

interface Service {
  image?: string;
  build?: { context: string; target: string };
  environment?: Record<string, string | number | boolean>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }> | string[];
  volumes?: string[];
  user?: string;
  command?: string[];
}
// `merge: true`: the worker's environment extends the API's through `<<: *app-env`.
const compose = parse(readFileSync(new URL("docker-compose.yml", root), "utf8"), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = compose.services;

/** The Dockerfile's stages: name -> its instructions (continuation lines joined). */
function dockerfileStages(): Map<string, string[]> {
  const text = readFileSync(new URL("Dockerfile", root), "utf8").replace(/\\\n\s*/g, " ");
  const stages = new Map<string, string[]>();
  let current: string[] = [];
  for (const line of text.split("\n").map((l) => l.trim())) {
    if (line === "" || line.startsWith("#")) continue;
    const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) {
      current = [line];
      if (from[1]) stages.set(from[1], current);
      continue;
    }
    current.push(line);
  }
  return stages;
}

/** A stage's instructions including those of the stages it is built FROM. */
function withParents(stages: Map<string, string[]>, name: string): string[] {
  const own = stages.get(name) ?? [];
  const parent = /^FROM\s+(\S+)/i.exec(own[0] ?? "")?.[1];
  return parent && stages.has(parent) ? [...withParents(stages, parent), ...own] : own;
}

describe("docker-compose.yml", () => {
  for (const name of ["api", "worker"]) {
    it(`gives the ${name} only variables the configuration reads, with values it accepts`, () => {
      const env = services[name]!.environment!;
      expect(Object.keys(env).length).toBeGreaterThan(5);
      const unknown = Object.keys(env).filter((k) => !CONFIG_VARIABLES.includes(k));
      expect(unknown).toEqual([]);
      const config = loadConfig(Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])));
      // The application's own MySQL user, not root.
      expect(new URL(config.MYSQL_URL).username).not.toBe("root");
    });

    it(`builds the ${name} from its own Dockerfile target, checks its health and starts it after its dependencies are healthy`, () => {
      const s = services[name]!;
      expect(s.build?.target).toBe(name);
      // The image's CMD runs the compiled code; no tsx at run time.
      expect(s.command).toBeUndefined();
      expect(s.healthcheck?.test[0]).toBe("CMD");
      const deps = s.depends_on as Record<string, { condition: string }>;
      expect(Object.keys(deps).sort()).toEqual(["mysql", "redis", "temporal"]);
      for (const d of Object.values(deps)) expect(d.condition).toBe("service_healthy");
    });
  }

  it("asks the API's gRPC health service", () => {
    expect(services.api!.healthcheck!.test.slice(0, 2)).toEqual(["CMD", "grpc-health-probe"]);
    expect(services.api!.healthcheck!.test).toContain("-addr=127.0.0.1:50051");
  });

  it("keeps Temporal's database on a volume", () => {
    const t = services.temporal!;
    const file = t.command![t.command!.indexOf("--db-filename") + 1]!;
    const mount = t.volumes!.map((v) => v.split(":")).find(([, target]) => file.startsWith(`${target}/`));
    expect(mount).toBeDefined();
    expect(Object.keys(compose.volumes)).toContain(mount![0]);
  });

  it("creates an application MySQL user that is not root", () => {
    const env = services.mysql!.environment!;
    expect(env.MYSQL_USER).toBeTruthy();
    expect(env.MYSQL_USER).not.toBe("root");
    const url = new URL(String(services.api!.environment!.MYSQL_URL));
    expect(url.username).toBe(env.MYSQL_USER);
    expect(decodeURIComponent(url.password)).toBe(String(env.MYSQL_PASSWORD));
    expect(url.pathname).toBe(`/${String(env.MYSQL_DATABASE)}`);
  });
});

describe("Dockerfile", () => {
  const stages = dockerfileStages();

  for (const name of ["api", "worker"]) {
    it(`has a ${name} target on Node 24 that runs compiled code as a non-root user with a HEALTHCHECK`, () => {
      const lines = withParents(stages, name);
      expect(lines.length).toBeGreaterThan(0);
      const user = lines.filter((l) => /^USER\s/i.test(l)).at(-1);
      expect(user).toBeDefined();
      expect(user).not.toMatch(/^USER\s+(root|0)(:|\s|$)/i);
      expect(lines.some((l) => /^HEALTHCHECK\s/i.test(l))).toBe(true);
      expect(lines.find((l) => /^CMD\s/i.test(l))).toMatch(
        new RegExp(`"node", "dist/src/${name === "api" ? "main" : "worker"}\\.js"`),
      );
      // No sources, tests or tsx in the image: only dist/ from the build stage.
      const copies = lines.filter((l) => /^COPY\s/i.test(l));
      expect(copies.some((l) => /--from=build\s+\/src\/dist\s/.test(l))).toBe(true);
      expect(copies.filter((l) => !/--from=/.test(l))).toEqual([]);
    });
  }

  it("builds the images FROM Node 24", () => {
    const text = readFileSync(new URL("Dockerfile", root), "utf8");
    expect(text).toMatch(/^ARG NODE_IMAGE=node:24-/m);
  });

  it("leaves the Temporal worker, and with it the native bridge, out of the API image", () => {
    const api = withParents(stages, "api");
    const worker = withParents(stages, "worker");
    expect(api).toContain("COPY --from=api-deps /app/node_modules node_modules");
    expect(worker).toContain("COPY --from=worker-deps /app/node_modules node_modules");
    const prune = withParents(stages, "api-deps").join("\n");
    expect(prune).toMatch(/npm ci --omit=dev/);
    expect(prune).toMatch(/npm pkg delete 'dependencies\.@temporalio\/worker'/);
    expect(prune).toMatch(/npm prune --omit=dev/);
    expect(withParents(stages, "worker-deps").join("\n")).not.toMatch(/npm pkg delete/);
    expect(api.join("\n")).toMatch(/COPY --from=health-probe \S*grpc-health-probe/);
    expect(stages.get("health-probe")!.join("\n")).toMatch(
      /go install github\.com\/grpc-ecosystem\/grpc-health-probe@v0\.4\.61/,
    );
  });
});
