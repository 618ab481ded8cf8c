// Order state changes over Redis pub/sub: activities publish on
// orders:<orderId>, WatchOrder listens. Each API process holds one pattern
// subscription (orders:*) on a dedicated connection for all its watchers,
// instead of a SUBSCRIBE and an UNSUBSCRIBE round trip per watched order: a
// change of an order nobody here watches costs one map lookup.
import type { RedisClient } from "../adapters/redis/client.js";

const PREFIX = "orders:";
const PATTERN = `${PREFIX}*`;
const channel = (orderId: string) => `${PREFIX}${orderId}`;

export class OrderNotifier {
  private subscriber: RedisClient | undefined;
  private subscribed: Promise<void> | undefined;
  private readonly listeners = new Map<string, Set<() => void>>();

  constructor(private readonly redis: RedisClient) {}

  publish(orderId: string): Promise<number> {
    return this.redis.publish(channel(orderId), "changed");
  }

  /**
   * Calls `onChange` whenever the order changes (and whenever the
   * subscription was re-established: messages may have been missed), until
   * the returned function is called. Resolves once the subscription is live.
   */
  async listen(orderId: string, onChange: () => void): Promise<() => Promise<void>> {
    const ch = channel(orderId);
    let set = this.listeners.get(ch);
    if (!set) {
      set = new Set();
      this.listeners.set(ch, set);
    }
    set.add(onChange);
    const stop = async () => {
      set.delete(onChange);
      if (set.size === 0 && this.listeners.get(ch) === set) this.listeners.delete(ch);
    };
    try {
      await this.subscribe();
    } catch (err) {
      await stop();
      throw err;
    }
    return stop;
  }

  private subscribe(): Promise<void> {
    if (this.subscribed) return this.subscribed;
    // A subscribed connection can do nothing else: use a dedicated one.
    const subscriber = (this.redis.duplicate as () => RedisClient).call(this.redis);
    this.subscriber = subscriber;
    subscriber.on("pmessage", (_pattern: string, ch: string) => {
      const set = this.listeners.get(ch);
      if (set) for (const l of set) l();
    });
    let connected = false;
    subscriber.on("ready", () => {
      // After a reconnect (the client re-subscribes by itself): changes
      // published meanwhile were lost, so every watcher looks again.
      if (connected) for (const set of this.listeners.values()) for (const l of set) l();
      connected = true;
    });
    this.subscribed = subscriber.psubscribe(PATTERN).then(
      () => undefined,
      (err: unknown) => {
        // The next listen() tries again on a new connection.
        this.subscribed = undefined;
        this.subscriber = undefined;
        subscriber.disconnect();
        throw err;
      },
    );
    return this.subscribed;
  }

  async close(): Promise<void> {
    await this.subscriber?.quit().catch(() => undefined);
  }
}
