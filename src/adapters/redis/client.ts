import { Cluster, Redis } from "ioredis";

/** A single Redis or a Redis Cluster: every key of an event shares a hash tag, so scripts work on both. */
export type RedisClient = Redis | Cluster;

export interface RedisOptions {
  url: string;
  clusterNodes?: { host: string; port: number }[] | undefined;
}

export function createRedis(options: RedisOptions): RedisClient {
  const common = {
    // Fail calls quickly while Redis is unreachable instead of queueing them
    // past their deadlines; the caller answers UNAVAILABLE.
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    connectTimeout: 2000,
  };
  if (options.clusterNodes && options.clusterNodes.length > 0) {
    // No auto-pipelining here: ioredis refuses a pipeline whose commands
    // span slot groups ("All keys in the pipeline should belong to the same
    // slots allocation group"), which auto-pipelining builds under load.
    return new Cluster(options.clusterNodes, { redisOptions: common, enableOfflineQueue: true, scaleReads: "master" });
  }
  return new Redis(options.url, {
    ...common,
    // Commands issued in the same tick share one write: fewer syscalls on the hold path.
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
  });
}
