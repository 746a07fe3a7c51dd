// Package awstest gives tests the AWS endpoints wxcard's functions talk
// to from a maintained emulator, never from one written here: moto_server
// (DynamoDB, SQS, EventBridge, KMS, Secrets Manager), started once per
// test binary (or shared by several, see MotoEndpointEnv) and skipped,
// saying so, where it is not installed. The real aws-sdk-go-v2 clients
// talk HTTP to it, through a proxy that injects faults (Fault). It also
// creates the state table and the bus of design.md, with an SQS queue
// subscribed to the bus so that a test reads back what was published.
package awstest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Region is the region every test client uses.
const Region = "us-east-1"

// Env is the environment of a function whose AWS calls all go to endpoint,
// as the SDK's standard variables say it; extra entries are added.
func Env(endpoint string, extra map[string]string) map[string]string {
	env := map[string]string{
		"AWS_REGION": Region, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
		"AWS_ENDPOINT_URL": endpoint,
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// Getenv reads from env, for FromEnv constructors.
func Getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

type staticCreds struct{}

func (staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "testing", SecretAccessKey: "testing", Source: "awstest"}, nil
}

// DynamoDB is a real client for endpoint.
func DynamoDB(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{Region: Region, BaseEndpoint: aws.String(endpoint), Credentials: staticCreds{}})
}

// EventBridge is a real client for endpoint.
func EventBridge(endpoint string) *eventbridge.Client {
	return eventbridge.New(eventbridge.Options{Region: Region, BaseEndpoint: aws.String(endpoint), Credentials: staticCreds{}})
}

// SQS is a real client for endpoint.
func SQS(endpoint string) *sqs.Client {
	return sqs.New(sqs.Options{Region: Region, BaseEndpoint: aws.String(endpoint), Credentials: staticCreds{}})
}

// CreateStateTable creates the state table of design.md: string partition
// key pk, on-demand, TTL on expires_at, and the template's sparse indexes
// kind-pk and openid-pk.
func CreateStateTable(t testing.TB, endpoint, name string) {
	t.Helper()
	ctx := context.Background()
	db := DynamoDB(endpoint)
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []dbtypes.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: dbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("kind"), AttributeType: dbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("openid"), AttributeType: dbtypes.ScalarAttributeTypeS},
		},
		KeySchema:   []dbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: dbtypes.KeyTypeHash}},
		BillingMode: dbtypes.BillingModePayPerRequest,
		// The template's sparse index of the brands (statetable.KindIndex).
		GlobalSecondaryIndexes: []dbtypes.GlobalSecondaryIndex{{
			IndexName: aws.String("kind-pk"),
			KeySchema: []dbtypes.KeySchemaElement{
				{AttributeName: aws.String("kind"), KeyType: dbtypes.KeyTypeHash},
				{AttributeName: aws.String("pk"), KeyType: dbtypes.KeyTypeRange},
			},
			Projection: &dbtypes.Projection{ProjectionType: dbtypes.ProjectionTypeInclude, NonKeyAttributes: []string{"state"}},
		}, {
			// The members of a user (statetable.OpenIDIndex).
			IndexName: aws.String("openid-pk"),
			KeySchema: []dbtypes.KeySchemaElement{
				{AttributeName: aws.String("openid"), KeyType: dbtypes.KeyTypeHash},
				{AttributeName: aws.String("pk"), KeyType: dbtypes.KeyTypeRange},
			},
			Projection: &dbtypes.Projection{ProjectionType: dbtypes.ProjectionTypeInclude,
				NonKeyAttributes: []string{"card_id", "user_card_code", "state", "level", "points", "balance"}},
		}},
	})
	if err != nil {
		t.Fatalf("creating table %q: %v", name, err)
	}
	_, err = db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(name),
		TimeToLiveSpecification: &dbtypes.TimeToLiveSpecification{AttributeName: aws.String("expires_at"), Enabled: aws.Bool(true)},
	})
	if err != nil {
		t.Fatalf("enabling TTL on %q: %v", name, err)
	}
}

// CreateBusWithQueue creates the bus and an SQS queue that a rule on the
// bus subscribes to every event whose source is "wxcard"; it returns the
// queue's URL.
func CreateBusWithQueue(t testing.TB, endpoint, bus string) string {
	t.Helper()
	ctx := context.Background()
	eb, q := EventBridge(endpoint), SQS(endpoint)
	if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)}); err != nil {
		t.Fatalf("creating bus %q: %v", bus, err)
	}
	created, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(bus + "-events")})
	if err != nil {
		t.Fatalf("creating queue: %v", err)
	}
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: created.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("reading the queue's ARN: %v", err)
	}
	rule := bus + "-all"
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(rule), EventBusName: aws.String(bus), EventPattern: aws.String(`{"source":["wxcard"]}`)}); err != nil {
		t.Fatalf("creating rule: %v", err)
	}
	_, err = eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(rule), EventBusName: aws.String(bus), Targets: []ebtypes.Target{{
		Id: aws.String("queue"), Arn: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]),
		// The whole event, as a target without a transformer receives it.
		// Said this way because moto renders its default input by parsing
		// eight JSONPath expressions, each building a parser table: about
		// 0.25 s of CPU per delivered event, most of a cardevents test
		// run's. One path (which must be there: moto reads an empty map as
		// its default) costs an eighth of that.
		InputTransformer: &ebtypes.InputTransformer{
			InputTemplate: aws.String("<aws.events.event.json>"),
			InputPathsMap: map[string]string{"id": "$.id"},
		},
	}}})
	if err != nil {
		t.Fatalf("subscribing the queue: %v", err)
	}
	return aws.ToString(created.QueueUrl)
}

// BusEvent is an EventBridge event as a queue target receives it.
type BusEvent struct {
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Time       string          `json:"time"`
	Detail     json.RawMessage `json:"detail"`
}

// ReceiveEvents reads every event waiting in the queue, waiting up to
// wait for the first want of them, and deletes what it read. A test that
// expects no more events asks for want+1 with a short wait.
func ReceiveEvents(t testing.TB, endpoint, queueURL string, want int, wait time.Duration) []BusEvent {
	t.Helper()
	ctx := context.Background()
	q := SQS(endpoint)
	var got []BusEvent
	deadline := time.Now().Add(wait)
	for {
		// Long-poll while events are still expected; once there are want of
		// them, one short poll sees whether more arrived. moto delivers
		// to the queue within PutEvents, so the short poll misses nothing,
		// and a test does not spend a second per read.
		var waitSeconds int32 = 1
		if len(got) >= want {
			waitSeconds = 0
		}
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: waitSeconds})
		if err != nil {
			t.Fatalf("receiving from %s: %v", queueURL, err)
		}
		for _, m := range out.Messages {
			var ev BusEvent
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &ev); err != nil {
				t.Fatalf("queue message is not an event: %v", err)
			}
			got = append(got, ev)
			_, _ = q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle})
		}
		if (len(got) >= want && len(out.Messages) == 0) || time.Now().After(deadline) {
			return got
		}
	}
}

// ImmediateRetries is the SDK's standard retryer, as in production (three
// attempts, the same errors retried), without the waits between attempts:
// a test that injects more faults than the retries outlast then takes
// milliseconds, not the seconds of jittered backoff.
func ImmediateRetries() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
	})
}
