package ticketing_test

// Calls a running API: test/ship/go-client.test.ts starts one against the
// test stack, creates an open event and runs `go test` here with
// TICKETING_ADDRESS, TICKETING_TOKEN (an operator's) and TICKETING_EVENT set.

import (
	"context"
	"os"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"ticketing/clients/go"
	ticketingv1 "ticketing/clients/go/ticketing/v1"
)

func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run this test through `npm test -- test/ship/go-client.test.ts`, which starts the API", name)
	}
	return v
}

func TestCallsARunningServer(t *testing.T) {
	address, token, eventID := env(t, "TICKETING_ADDRESS"), env(t, "TICKETING_TOKEN"), env(t, "TICKETING_EVENT")
	ctx := context.Background()

	api, err := ticketing.Dial(address, ticketing.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()

	got, err := api.Events.GetEvent(ctx, &ticketingv1.GetEventRequest{EventId: eventID})
	if err != nil {
		t.Fatalf("GetEvent: %v", err)
	}
	if got.GetEvent().GetEventId() != eventID || got.GetEvent().GetCurrencyCode() != "EUR" {
		t.Fatalf("GetEvent answered %v", got.GetEvent())
	}

	hold, err := api.Reservations.HoldSeats(ctx, &ticketingv1.HoldSeatsRequest{
		EventId: eventID, BuyerId: "go-buyer", RequestId: "go-r1",
		Selection: &ticketingv1.HoldSeatsRequest_Seats{Seats: &ticketingv1.SeatSelection{SeatIds: []string{"A-1-2"}}},
	})
	if err != nil {
		t.Fatalf("HoldSeats: %v", err)
	}
	if len(hold.GetHold().GetSeatIds()) != 1 {
		t.Fatalf("HoldSeats answered %v", hold.GetHold())
	}

	// The same seat for another buyer: refused with a stable reason.
	_, err = api.Reservations.HoldSeats(ctx, &ticketingv1.HoldSeatsRequest{
		EventId: eventID, BuyerId: "go-buyer-2", RequestId: "go-r2",
		Selection: &ticketingv1.HoldSeatsRequest_Seats{Seats: &ticketingv1.SeatSelection{SeatIds: []string{"A-1-2"}}},
	})
	if status.Code(err) != codes.Aborted || ticketing.Details(err).Reason != "SEATS_UNAVAILABLE" {
		t.Fatalf("a taken seat answered %v (details %+v)", err, ticketing.Details(err))
	}

	// A bad field: INVALID_ARGUMENT naming it.
	_, err = api.Events.GetEvent(ctx, &ticketingv1.GetEventRequest{EventId: "bad id!"})
	d := ticketing.Details(err)
	if status.Code(err) != codes.InvalidArgument || d.Reason != "VALIDATION_FAILED" || d.FieldViolations["event_id"] == "" {
		t.Fatalf("a bad event id answered %v (details %+v)", err, d)
	}

	// Without a token: refused.
	anonymous, err := ticketing.Dial(address, ticketing.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer anonymous.Close()
	_, err = anonymous.Events.GetEvent(ctx, &ticketingv1.GetEventRequest{EventId: eventID})
	if status.Code(err) != codes.Unauthenticated || ticketing.Details(err).Reason != "TOKEN_MISSING" {
		t.Fatalf("a call without a token answered %v", err)
	}
}
