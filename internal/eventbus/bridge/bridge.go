// Package bridge publishes wxcard's events to an Amazon EventBridge bus:
// the eventbus.Publisher of a deployed function.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/wxcard/wxcard/internal/awsenv"
	"github.com/wxcard/wxcard/internal/eventbus"
)

// MaxEntries is how many events one PutEvents call takes.
const MaxEntries = 10

// CheckTimeout bounds a cold start's check that the bus exists.
const CheckTimeout = 5 * time.Second

// API is the part of the EventBridge client a Bus uses.
type API interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
	DescribeEventBus(ctx context.Context, in *eventbridge.DescribeEventBusInput, optFns ...func(*eventbridge.Options)) (*eventbridge.DescribeEventBusOutput, error)
}

// Bus publishes to an EventBridge event bus.
type Bus struct {
	Client API
	Name   string // the bus's name or ARN
}

// CheckExists asks EventBridge for the bus (DescribeEventBus), so that a
// function refuses to start on a bus that is not there: AWS answers a
// PutEvents to a missing bus as a success and drops the event
// (aws/aws-cli#9186), so Publish alone cannot tell. The error names the
// bus and EVENT_BUS_NAME.
func (b *Bus) CheckExists(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	_, err := b.Client.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: aws.String(b.Name)})
	var nf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		return fmt.Errorf("eventbus: the bus %q (EVENT_BUS_NAME) does not exist: events published to it would be lost", b.Name)
	case err != nil:
		return fmt.Errorf("eventbus: checking that the bus %q (EVENT_BUS_NAME) exists: %w", b.Name, err)
	}
	return nil
}

// FromEnvChecked is FromEnv, then CheckExists: the bus of a function that
// publishes, at its cold start.
func FromEnvChecked(ctx context.Context, getenv func(string) string) (*Bus, error) {
	b, err := FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	if err := b.CheckExists(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// FromEnv builds a Bus from the function's environment: EVENT_BUS_NAME,
// the AWS region and credentials, and AWS_ENDPOINT_URL_EVENTBRIDGE for a
// local endpoint.
func FromEnv(getenv func(string) string) (*Bus, error) {
	name := strings.TrimSpace(getenv("EVENT_BUS_NAME"))
	if name == "" {
		return nil, errors.New("EVENT_BUS_NAME is not set: name the EventBridge bus events are published to")
	}
	env, err := awsenv.FromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("AWS environment: %w", err)
	}
	c := eventbridge.New(eventbridge.Options{Region: env.Region, Credentials: env.Credentials, BaseEndpoint: env.Endpoint("EVENTBRIDGE")})
	return &Bus{Client: c, Name: name}, nil
}

// Publish puts the events, MaxEntries per call. A call that fails, or
// whose answer reports a failed entry, is an error naming the entry's
// error code (never its detail).
func (b *Bus) Publish(ctx context.Context, events ...eventbus.Event) error {
	for len(events) > 0 {
		n := min(len(events), MaxEntries)
		entries := make([]types.PutEventsRequestEntry, n)
		for i, ev := range events[:n] {
			entries[i] = types.PutEventsRequestEntry{
				EventBusName: aws.String(b.Name),
				Source:       aws.String(eventbus.Source),
				DetailType:   aws.String(ev.DetailType),
				Detail:       aws.String(string(ev.Detail)),
			}
			if !ev.Time.IsZero() {
				entries[i].Time = aws.Time(ev.Time)
			}
		}
		out, err := b.Client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
		if err != nil {
			return fmt.Errorf("eventbus: PutEvents to %q: %w", b.Name, err)
		}
		if out.FailedEntryCount > 0 {
			return fmt.Errorf("eventbus: PutEvents to %q: %d of %d entries failed: %s", b.Name, out.FailedEntryCount, n, failedCodes(out.Entries))
		}
		events = events[n:]
	}
	return nil
}

func failedCodes(entries []types.PutEventsResultEntry) string {
	var codes []string
	for _, e := range entries {
		if e.ErrorCode != nil {
			codes = append(codes, aws.ToString(e.ErrorCode))
		}
	}
	if len(codes) == 0 {
		return "no error code given"
	}
	return strings.Join(codes, ", ")
}
