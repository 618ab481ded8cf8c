// Every workflow the worker runs. Deterministic code only: no Node built-ins,
// no I/O; activities do that.
export { holdSweeper } from "./hold-sweeper.js";
