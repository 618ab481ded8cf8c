// Package ticketing connects to the Ticketing gRPC API (ticketing.v1): the
// generated clients live in ticketing/clients/go/ticketing/v1; this package
// adds Dial, with a bearer token on every call and a service config of
// deadlines and retries, and Details, the stable reason of a refused call.
package ticketing

import (
	"context"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	ticketingv1 "ticketing/clients/go/ticketing/v1"
)

// serviceConfig: a 10 s deadline on unary calls, none on the Watch streams,
// and retries on UNAVAILABLE for calls that are safe to repeat (reads, and
// writes made idempotent by request_id or idempotency_key). The same policy
// as the TypeScript client's.
const serviceConfig = `{"methodConfig": [
  {"name": [{"service": "ticketing.v1.EventService"}, {"service": "ticketing.v1.ReservationService"},
            {"service": "ticketing.v1.OrderService"}, {"service": "ticketing.v1.QueueService"},
            {"service": "ticketing.v1.TicketService"}], "timeout": "10s"},
  {"name": [{"service": "ticketing.v1.EventService", "method": "CreateEvent"},
            {"service": "ticketing.v1.EventService", "method": "GetEvent"},
            {"service": "ticketing.v1.EventService", "method": "ListEvents"},
            {"service": "ticketing.v1.EventService", "method": "OpenSale"},
            {"service": "ticketing.v1.EventService", "method": "PauseSale"},
            {"service": "ticketing.v1.EventService", "method": "CloseSale"},
            {"service": "ticketing.v1.EventService", "method": "GetSeatMap"},
            {"service": "ticketing.v1.EventService", "method": "GetEventSummary"},
            {"service": "ticketing.v1.EventService", "method": "RebuildInventory"},
            {"service": "ticketing.v1.ReservationService", "method": "HoldSeats"},
            {"service": "ticketing.v1.ReservationService", "method": "HoldBestAvailable"},
            {"service": "ticketing.v1.ReservationService", "method": "GetHold"},
            {"service": "ticketing.v1.OrderService", "method": "CreateOrder"},
            {"service": "ticketing.v1.OrderService", "method": "GetOrder"},
            {"service": "ticketing.v1.OrderService", "method": "ListOrders"},
            {"service": "ticketing.v1.OrderService", "method": "ListEventOrders"},
            {"service": "ticketing.v1.QueueService", "method": "JoinQueue"},
            {"service": "ticketing.v1.QueueService", "method": "GetQueuePosition"},
            {"service": "ticketing.v1.QueueService", "method": "GetSigningKeys"},
            {"service": "ticketing.v1.TicketService", "method": "VerifyTicket"},
            {"service": "ticketing.v1.TicketService", "method": "ListRevokedTickets"}],
   "timeout": "10s",
   "retryPolicy": {"maxAttempts": 4, "initialBackoff": "0.1s", "maxBackoff": "2s",
                   "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}},
  {"name": [{"service": "ticketing.v1.EventService", "method": "WatchSeatMap"},
            {"service": "ticketing.v1.OrderService", "method": "WatchOrder"},
            {"service": "ticketing.v1.QueueService", "method": "WatchQueue"}]}
]}`

// Options of Dial. A nil TLS config means a plaintext connection (local use only).
type Options struct {
	// Token is sent as "authorization: Bearer <token>" on every call.
	Token string
	// TransportCredentials, e.g. credentials.NewTLS(...); nil means insecure.
	TransportCredentials credentials.TransportCredentials
}

// Client holds a connection and a client of every service on it.
type Client struct {
	Conn         *grpc.ClientConn
	Events       ticketingv1.EventServiceClient
	Reservations ticketingv1.ReservationServiceClient
	Orders       ticketingv1.OrderServiceClient
	Queue        ticketingv1.QueueServiceClient
	Tickets      ticketingv1.TicketServiceClient
}

// Dial connects to address (host:port). The connection is made lazily, on the first call.
func Dial(address string, o Options) (*Client, error) {
	creds := o.TransportCredentials
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultServiceConfig(serviceConfig),
	}
	if o.Token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: o.Token, secure: o.TransportCredentials != nil}))
	}
	conn, err := grpc.NewClient(address, opts...)
	if err != nil {
		return nil, err
	}
	return &Client{
		Conn:         conn,
		Events:       ticketingv1.NewEventServiceClient(conn),
		Reservations: ticketingv1.NewReservationServiceClient(conn),
		Orders:       ticketingv1.NewOrderServiceClient(conn),
		Queue:        ticketingv1.NewQueueServiceClient(conn),
		Tickets:      ticketingv1.NewTicketServiceClient(conn),
	}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.Conn.Close() }

type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }

// ErrorDetails is what a refused call says beyond its code.
type ErrorDetails struct {
	// Reason is the stable google.rpc.ErrorInfo reason, e.g. "SEATS_UNAVAILABLE".
	Reason   string
	Metadata map[string]string
	// FieldViolations maps each bad request field to what is wrong with it.
	FieldViolations map[string]string
	// RetryDelay is how long to wait before retrying, when the server says (else 0).
	RetryDelay time.Duration
}

// Details decodes the google.rpc.Status details of err (zero for a nil or non-gRPC error).
func Details(err error) ErrorDetails {
	var d ErrorDetails
	st, ok := status.FromError(err)
	if !ok || st == nil {
		return d
	}
	for _, detail := range st.Details() {
		switch v := detail.(type) {
		case *errdetails.ErrorInfo:
			d.Reason, d.Metadata = v.GetReason(), v.GetMetadata()
		case *errdetails.BadRequest:
			d.FieldViolations = map[string]string{}
			for _, f := range v.GetFieldViolations() {
				d.FieldViolations[f.GetField()] = f.GetDescription()
			}
		case *errdetails.RetryInfo:
			d.RetryDelay = v.GetRetryDelay().AsDuration()
		}
	}
	return d
}
