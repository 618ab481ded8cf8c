// Every workflow the worker runs. Deterministic code only: no Node built-ins,
// no I/O; activities do that.
export { checkout } from "./checkout.js";
export { holdSweeper } from "./hold-sweeper.js";
export { reconcilePayments } from "./reconcile-payments.js";
export { refundOrder, refundTickets } from "./refund-order.js";
export { retireTicketKey, rotateTicketKey } from "./ticket-keys.js";
