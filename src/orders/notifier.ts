// Order state changes over Redis pub/sub: activities publish, WatchOrder
// listens through one subscriber connection per API process.
import type { RedisClient } from "../adapters/redis/client.js";

const channel = (orderId: string) => `orders:${orderId}`;

export class OrderNotifier {
  private subscriber: RedisClient | undefined;
  private readonly listeners = new Map<string, Set<() => void>>();

  constructor(private readonly redis: RedisClient) {}

  publish(orderId: string): Promise<number> {
    return this.redis.publish(channel(orderId), "changed");
  }

  /** Calls `onChange` whenever the order changes, until the returned function is called. */
  async listen(orderId: string, onChange: () => void): Promise<() => Promise<void>> {
    let subscriber = this.subscriber;
    if (!subscriber) {
      // A subscribed connection can do nothing else: use a dedicated one.
      subscriber = (this.redis.duplicate as () => RedisClient).call(this.redis);
      subscriber.on("message", (ch: string) => {
        for (const l of this.listeners.get(ch) ?? []) l();
      });
      this.subscriber = subscriber;
    }
    const ch = channel(orderId);
    let set = this.listeners.get(ch);
    if (!set) {
      set = new Set();
      this.listeners.set(ch, set);
      await subscriber.subscribe(ch);
    }
    set.add(onChange);
    return async () => {
      set.delete(onChange);
      if (set.size === 0 && this.listeners.get(ch) === set) {
        this.listeners.delete(ch);
        await this.subscriber?.unsubscribe(ch);
      }
    };
  }

  async close(): Promise<void> {
    await this.subscriber?.quit().catch(() => undefined);
  }
}
