// Package awstest gives tests the AWS endpoints wxcard's functions talk to:
// moto_server, started by the test (skipped, saying so, where it is not
// installed), and in-process fakes of the same wire protocols. The real
// aws-sdk-go-v2 clients talk HTTP to either. It also creates the state
// table and the bus of design.md, with an SQS queue subscribed to the bus
// so that a test reads back what was published.
package awstest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Region is the region every test client uses.
const Region = "us-east-1"

// StartMoto starts moto_server on a free loopback port and returns its
// endpoint; it stops with the test. It skips the test, saying why, where
// moto_server is not installed or BackendsEnv asks for the fakes only.
func StartMoto(t testing.TB) string {
	t.Helper()
	if fakesOnly(t) {
		t.Skip(BackendsEnv + "=fakes: moto_server is not started; the in-process fakes cover the same protocols")
	}
	path, err := exec.LookPath("moto_server")
	if err != nil {
		t.Skip("moto_server is not installed; the in-process fakes cover the same protocols")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	cmd := exec.Command(path, "-H", "127.0.0.1", "-p", fmt.Sprint(port)) //nolint:gosec // moto_server as found on PATH, for tests
	cmd.Env = append(os.Environ(), "MOTO_ALLOW_NONEXISTENT_REGION=true")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting moto_server: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// moto (werkzeug) prints "Running on http://…" on stderr once it listens.
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.Contains(sc.Text(), "Running on") {
				close(ready)
				signalled = true
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		t.Fatal("moto_server did not start within 60 s")
	}
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

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
// key pk, on-demand, TTL on expires_at.
func CreateStateTable(t testing.TB, endpoint, name string) {
	t.Helper()
	ctx := context.Background()
	db := DynamoDB(endpoint)
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []dbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: dbtypes.ScalarAttributeTypeS}},
		KeySchema:            []dbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: dbtypes.KeyTypeHash}},
		BillingMode:          dbtypes.BillingModePayPerRequest,
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
		// them, one short poll sees whether more arrived. Both backends
		// deliver to the queue within PutEvents, so the short poll misses
		// nothing, and a test does not spend a second per read.
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
