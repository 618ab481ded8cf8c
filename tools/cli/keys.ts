// keys list|rotate|retire. The API publishes its signing keys (GetSigningKeys:
// admission tokens and ticket codes); it has no RPC to rotate or retire one.
// The servers rotate by themselves (SIGNING_KEY_ROTATE_SECONDS), so rotate
// and retire say so and change nothing.
import { queue } from "../../clients/typescript/src/index.js";
import { Failure, table, unary, when, type Command } from "./common.js";

const list: Command = {
  name: "keys list",
  args: "",
  summary: "the signing keys of admission tokens and ticket codes",
  async run(ctx) {
    const { keys } = await unary(ctx.api().queue, "getSigningKeys", {});
    if (ctx.json)
      return ctx.out(
        JSON.stringify(
          keys.map((k) => queue.SigningKey.toJSON(k)),
          null,
          2,
        ) + "\n",
      );
    ctx.out(
      table(
        ["kid", "purpose", "alg", "state", "retires"],
        keys.map((k) => [k.kid, k.purpose, k.alg, k.retireTime ? "retiring" : "signing", when(k.retireTime)]),
      ),
    );
  },
};

function unsupported(verb: "rotate" | "retire"): Command {
  return {
    name: `keys ${verb}`,
    args: "",
    summary: `not offered by the API: keys rotate by themselves (SIGNING_KEY_ROTATE_SECONDS)`,
    async run() {
      throw new Failure(`NOT_SUPPORTED: the API has no RPC to ${verb} a signing key`, [
        "  The servers rotate their keys when the newest is SIGNING_KEY_ROTATE_SECONDS old (default a week);",
        "  a retired key keeps verifying until its retire_time. See `keys list`.",
      ]);
    },
  };
}

export const keyCommands: Command[] = [list, unsupported("rotate"), unsupported("retire")];
