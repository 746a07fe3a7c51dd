package refresh_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/authority"
	"github.com/wxcard/wxcard/internal/authority/authtable"
	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/internal/refresh"
	"github.com/wxcard/wxcard/internal/refresh/queue"
	"github.com/wxcard/wxcard/internal/statetable"
)

var queueSeq atomic.Int64

// queueOf creates a refresh queue on the stack and the Queue sending to
// it through the stack's fault-injecting endpoint.
func queueOf(t *testing.T, s *awstest.Stack) (*queue.Queue, string) {
	url := s.NewQueue(t, fmt.Sprintf("refresh-%d", queueSeq.Add(1)))
	return &queue.Queue{Client: awstest.SQS(s.Endpoint), URL: url}, url
}

func tableOf(t *testing.T, s *awstest.Stack) *statetable.Table {
	table, err := statetable.FromEnv(awstest.Getenv(s.Env(nil)))
	require.NoError(t, err)
	return table
}

// received drains the queue as the event source mapping would, all
// succeeding, and returns the brands in it.
func received(t *testing.T, s *awstest.Stack, url string) []string {
	var brands []string
	for _, d := range (&awstest.EventSource{Stack: s, QueueURL: url}).Drain(t, 2000, func(events.SQSEvent) events.SQSEventResponse { return events.SQSEventResponse{} }) {
		m, err := refresh.ParseMessage(d.Body)
		require.NoError(t, err)
		brands = append(brands, m.BrandID)
	}
	slices.Sort(brands)
	return brands
}

// 500 brands go to SQS in 50 concurrent batches of 10, every one held.
//
// Not the 10,000 of a real fleet: moto's SendMessage reads the queue's
// attributes, which count every message held, so each send costs time in
// proportion to the queue's depth (1,000 brands took 19 s, 10,000 would
// take half an hour), and it receives slowly too (14 s for these 500).
func TestSendManyBrands(t *testing.T) {
	t.Parallel()
	for _, s := range awstest.Stacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			const count = 500
			q, url := queueOf(t, s)
			brands := brandIDs(count)
			start := time.Now()
			n, err := q.Send(context.Background(), brands)
			elapsed := time.Since(start)
			require.NoError(t, err)
			assert.Equal(t, count, n)
			assert.Equal(t, count/refresh.BatchSize, s.Calls("AmazonSQS.SendMessageBatch"))
			assert.Equal(t, count, s.QueueDepth(t, url))
			t.Logf("%s: %d brands enqueued in %v", s.Name, count, elapsed.Round(time.Millisecond))
		})
	}
}

// Entries SQS reports failed are sent again; a sender fault is not, and
// the error says how many brands were not enqueued.
func TestSendRetriesFailedEntries(t *testing.T) {
	t.Parallel()
	failed := func(senderFault bool, ids ...int) string {
		var f []string
		for _, id := range ids {
			f = append(f, fmt.Sprintf(`{"Id":"%d","SenderFault":%t,"Code":"InternalError","Message":"injected"}`, id, senderFault))
		}
		return `{"Successful":[],"Failed":[` + strings.Join(f, ",") + `]}`
	}
	for _, s := range awstest.Stacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			q, url := queueOf(t, s)
			brands := brandIDs(10)
			// The first answer fails every entry; the second call sends them.
			s.Inject("AmazonSQS.SendMessageBatch", awstest.Fault{Body: failed(false, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)})
			n, err := q.Send(context.Background(), brands)
			require.NoError(t, err)
			assert.Equal(t, 10, n)
			assert.Equal(t, brands, received(t, s, url))

			before := s.Calls("AmazonSQS.SendMessageBatch")
			s.Inject("AmazonSQS.SendMessageBatch", awstest.Fault{Body: failed(true, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)})
			n, err = q.Send(context.Background(), brands)
			require.Error(t, err)
			assert.Equal(t, 0, n)
			assert.Contains(t, err.Error(), "10 of 10 brands not enqueued")
			assert.Equal(t, before+1, s.Calls("AmazonSQS.SendMessageBatch"), "a sender fault is not sent again")
		})
	}
}

// The schedule enqueues AUTHORITY_BRAND_IDS and every brand with a
// snapshot, once each, across pages of a Query of the table's sparse
// index: notification records are neither brands nor read, and the table
// is never Scanned.
func TestSchedulerEnqueuesEveryCoveredBrand(t *testing.T) {
	t.Parallel()
	for _, s := range awstest.Stacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			table := tableOf(t, s)
			store := authtable.Table{Table: table, PageSize: 2}
			tr := &authority.Tracker{Store: store, Bus: nopBus{}}
			for _, b := range []string{"2001", "2002", "1004"} {
				_, err := tr.Observe(context.Background(), b, &authority.Authority{AuthorizationType: "AUTHORIZATION_TYPE_HOSTING", AuthorizationProduct: []string{"BRAND_PRODUCT_AUTHORITY_MERCHANT_CARD"}})
				require.NoError(t, err)
			}
			_, err := table.Client.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table.Name), Item: map[string]types.AttributeValue{
				statetable.KeyAttr: statetable.String(statetable.NotificationPrefix + "n-1"),
			}})
			require.NoError(t, err)
			q, url := queueOf(t, s)
			h := &refresh.Scheduler{Queue: q, Snapshots: store, Listed: []string{"1004", "1005"}, Logger: discard}

			var cmd refresh.Command
			require.NoError(t, json.Unmarshal([]byte(scheduledEvent), &cmd))
			sum, err := h.Handle(context.Background(), cmd)
			require.NoError(t, err)
			assert.Equal(t, &refresh.Summary{Listed: 2, Snapshots: 3, Enqueued: 4}, sum)
			// The next period while those four still wait: skipped, not piled up;
			// an operator's force enqueues anyway.
			sum, err = h.Handle(context.Background(), cmd)
			require.NoError(t, err)
			assert.Equal(t, &refresh.Summary{Listed: 2, Snapshots: 3, Waiting: 4}, sum)
			assert.Equal(t, []string{"1004", "1005", "2001", "2002"}, received(t, s, url))
			_, err = q.Send(context.Background(), []string{"1004"})
			require.NoError(t, err)
			sum, err = h.Handle(context.Background(), cmd)
			require.NoError(t, err)
			assert.Equal(t, 4, sum.Enqueued, "one brand waiting is less than a period: enqueued")
			_, err = q.Send(context.Background(), brandIDs(10))
			require.NoError(t, err)
			sum, err = h.Handle(context.Background(), refresh.Command{Force: true})
			require.NoError(t, err)
			assert.Equal(t, 4, sum.Enqueued, "forced")
			assert.Len(t, received(t, s, url), 1+4+10+4)
			assert.GreaterOrEqual(t, s.Calls("DynamoDB_20120810.Query"), 2, "pages")
			assert.Zero(t, s.Calls("DynamoDB_20120810.Scan"), "no Scan of the table")

			// The table failing: nothing is enqueued, and the error says why.
			for range 4 {
				s.Inject("DynamoDB_20120810.Query", awstest.Fault{Status: 500, Type: "InternalServerError"})
			}
			sum, err = h.Handle(context.Background(), cmd)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "listing the brands with a snapshot")
			assert.Equal(t, 0, sum.Enqueued)
			assert.Equal(t, 0, s.QueueDepth(t, url))
		})
	}
}

// Operators add brands by enqueueing them ({"brand_ids"}): checked once,
// each has a snapshot and stays covered. They remove brands, whose
// snapshot is marked removed ({"remove_brand_ids"}), except a listed one
// and one holding unpublished events (refused); one without a snapshot is
// answered as not covered. Adding a removed brand again forgets the
// removal.
func TestOperatorsAddAndRemoveBrands(t *testing.T) {
	t.Parallel()
	for _, s := range awstest.Stacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			store := authtable.Table{Table: tableOf(t, s)}
			q, url := queueOf(t, s)
			h := &refresh.Scheduler{Queue: q, Snapshots: store, Listed: []string{"1004"}, Logger: discard}
			run := func(payload string) (*refresh.Summary, error) {
				var cmd refresh.Command
				require.NoError(t, json.Unmarshal([]byte(payload), &cmd))
				return h.Handle(context.Background(), cmd)
			}

			sum, err := run(`{"brand_ids":["3001","3002"]}`)
			require.NoError(t, err)
			assert.Equal(t, 2, sum.Enqueued)
			assert.Equal(t, []string{"3001", "3002"}, received(t, s, url))

			tr := &authority.Tracker{Store: store, Bus: nopBus{}}
			for _, b := range []string{"3001", "3002"} {
				_, err := tr.Observe(context.Background(), b, &authority.Authority{AuthorizationType: "AUTHORIZATION_TYPE_HOSTING", AuthorizationProduct: []string{"X"}})
				require.NoError(t, err)
			}
			now := time.Now()
			require.NoError(t, store.Put(context.Background(), authority.Item{BrandID: "3003", State: authority.Revoked, CheckedAt: now, Version: 1,
				Pending: []eventbus.Event{{DetailType: authority.RevokedEvent, Time: now, Detail: json.RawMessage(`{}`)}}, PendingID: "p", PendingSince: now}, 0))

			sum, err = run(`{"remove_brand_ids":["3001","1004","3009","3003","3001"]}`)
			require.Error(t, err)
			assert.Equal(t, []string{"3001"}, sum.Removed)
			assert.Equal(t, []string{"3009"}, sum.NotCovered, "no snapshot: not covered already, not refused")
			assert.Equal(t, []string{"1004", "3003"}, slices.Sorted(maps.Keys(sum.Refused)))
			assert.Contains(t, sum.Refused["1004"], "AUTHORITY_BRAND_IDS")
			assert.Contains(t, sum.Refused["3003"], "not yet published")
			assert.Contains(t, err.Error(), "2 of 4 brands not removed")
			assert.NotContains(t, err.Error(), "3009")

			brands, removed, err := store.Brands(context.Background())
			require.NoError(t, err)
			slices.Sort(brands)
			assert.Equal(t, []string{"3002", "3003"}, brands)
			assert.Equal(t, []string{"3001"}, removed)
			sum, err = run(`{}`)
			require.NoError(t, err)
			assert.Equal(t, []string{"1004", "3002", "3003"}, received(t, s, url))
			assert.Equal(t, 3, sum.Enqueued)

			// Listed after its removal: the scheduled run forgets the removal.
			h.Listed = []string{"1004", "3001"}
			sum, err = run(`{}`)
			require.NoError(t, err)
			assert.Equal(t, 4, sum.Enqueued)
			assert.Equal(t, []string{"1004", "3001", "3002", "3003"}, received(t, s, url))
			it, err := store.Get(context.Background(), "3001")
			require.NoError(t, err)
			assert.Equal(t, int64(0), it.Version, "listed wins over an old removal")
			h.Listed = []string{"1004"}
			require.NoError(t, store.Put(context.Background(), authority.Item{BrandID: "3001", State: authority.Authorised, Authority: &authority.Authority{AuthorizationType: "AUTHORIZATION_TYPE_HOSTING", AuthorizationProduct: []string{"X"}}, CheckedAt: now, Version: 1}, 0))
			_, err = run(`{"remove_brand_ids":["3001"]}`)
			require.NoError(t, err)

			// Added again: the removal is forgotten, so its check sees it afresh.
			it, err = store.Get(context.Background(), "3001")
			require.NoError(t, err)
			require.Equal(t, authority.Removed, it.State)
			sum, err = run(`{"brand_ids":["3001"]}`)
			require.NoError(t, err)
			assert.Equal(t, 1, sum.Enqueued)
			it, err = store.Get(context.Background(), "3001")
			require.NoError(t, err)
			assert.Equal(t, int64(0), it.Version, "no snapshot: the next check is a first sight")
		})
	}
}

// The sample event (what README's sam local invoke sends) on a fresh
// stack: the brand has no snapshot, so the invocation succeeds and the
// answer names it as not covered, rather than failing the invocation, which
// an async invoke would retry and alarm on. The same removal again, after
// the brand was covered and removed, succeeds alike.
func TestRemovingAnUncoveredBrandSucceeds(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../events/authoritiesschedule-remove-brand-ids.json")
	require.NoError(t, err)
	var sample refresh.Command
	require.NoError(t, json.Unmarshal(raw, &sample))
	require.Len(t, sample.Remove, 1)
	brand := sample.Remove[0]
	for _, s := range awstest.Stacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			store := authtable.Table{Table: tableOf(t, s)}
			q, _ := queueOf(t, s)
			h := &refresh.Scheduler{Queue: q, Snapshots: store, Logger: discard}
			answer := func() string {
				t.Helper()
				var cmd refresh.Command
				require.NoError(t, json.Unmarshal(raw, &cmd))
				sum, err := h.Handle(context.Background(), cmd)
				require.NoError(t, err, "a function error: an async invoke retries it and the errors alarm fires")
				b, err := json.Marshal(sum)
				require.NoError(t, err)
				return string(b)
			}

			assert.JSONEq(t, `{"enqueued":0,"not_covered":["`+brand+`"]}`, answer())

			_, err := (&authority.Tracker{Store: store, Bus: nopBus{}}).Observe(context.Background(), brand,
				&authority.Authority{AuthorizationType: "AUTHORIZATION_TYPE_HOSTING", AuthorizationProduct: []string{"X"}})
			require.NoError(t, err)
			assert.JSONEq(t, `{"enqueued":0,"removed":["`+brand+`"]}`, answer())
			assert.JSONEq(t, `{"enqueued":0,"not_covered":["`+brand+`"]}`, answer(), "removed already")
		})
	}
}

// nopBus publishes nowhere: these tests make snapshots, not events.
type nopBus struct{}

func (nopBus) Publish(context.Context, ...eventbus.Event) error { return nil }

const scheduledEvent = `{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event","source":"aws.scheduler","account":"123456789012","time":"2026-11-22T06:00:00Z","region":"us-east-1","resources":["arn:aws:scheduler:us-east-1:123456789012:schedule/default/x"],"detail":"{}"}`

// The scheduler takes only its commands: a Scheduled Event envelope, {},
// brand_ids or remove_brand_ids with well-formed IDs. Anything else never
// decodes, so it never enqueues nor removes.
func TestCommandIsStrict(t *testing.T) {
	good := map[string]refresh.Command{
		`{}`:                            {},
		`{"brand_ids":["1004","1005"]}`: {BrandIDs: []string{"1004", "1005"}},
		`{"brand_ids":[]}`:              {BrandIDs: []string{}},
		`{"remove_brand_ids":["1004"]}`: {Remove: []string{"1004"}},
		`{"force":true}`:                {Force: true},
		`{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`: {},
	}
	for payload, want := range good {
		var cmd refresh.Command
		require.NoError(t, json.Unmarshal([]byte(payload), &cmd), payload)
		assert.Equal(t, want.BrandIDs, cmd.BrandIDs, payload)
		assert.Equal(t, want.Remove, cmd.Remove, payload)
		assert.Equal(t, want.Force, cmd.Force, payload)
	}
	for _, payload := range []string{
		`{"what":"ever"}`, `[1]`, `null`, `"x"`, `{"brand_ids":null}`, `{"brand_ids":"1004"}`, `{"BRAND_IDS":["1004"]}`,
		`{"brand_ids":["10/04"]}`, `{"brand_ids":[""]}`, `{"remove_brand_ids":["` + strings.Repeat("1", 33) + `"]}`,
		`{"brand_ids":["1004"],"remove_brand_ids":["1005"]}`,
		`{"force":false}`, `{"force":"true"}`, `{"force":true,"brand_ids":["1004"]}`,
		`{"brand_ids":[` + strings.Repeat(`"1",`, 5000) + `"1"]}`,
		`{"version":"2.0","routeKey":"GET /x","requestContext":{"http":{"method":"GET"}}}`,
		`{"source":"aws.events","detail-type":"EC2 Instance State-change Notification"}`,
		`{"Records":[{"body":"{\"brand_id\":\"1004\"}"}]}`,
	} {
		var cmd refresh.Command
		assert.Error(t, json.Unmarshal([]byte(payload), &cmd), payload)
	}
}

func TestParseMessage(t *testing.T) {
	m, err := refresh.ParseMessage(`{"brand_id":"1004"}`)
	require.NoError(t, err)
	assert.Equal(t, "1004", m.BrandID)
	assert.Equal(t, `{"brand_id":"1004"}`, m.Body())
	for _, body := range []string{``, `{}`, `null`, `[]`, `{"brand_id":1004}`, `{"BRAND_ID":"1004"}`, `{"brand_id":"1004","x":1}`, `{"brand_id":"10/04"}`, `{"brand_id":""}`, `"1004"`} {
		_, err := refresh.ParseMessage(body)
		assert.Error(t, err, body)
	}
}

// A snapshot written before the index existed (no kind attribute) is not
// listed; its next check adds it, and a removal keeps it listed, as
// removed. A notification record never joins the index.
func TestBrandsJoinTheIndexAtTheirNextCheck(t *testing.T) {
	t.Parallel()
	for _, s := range awstest.Stacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			ctx := context.Background()
			table := tableOf(t, s)
			store := authtable.Table{Table: table}
			tr := &authority.Tracker{Store: store, Bus: nopBus{}}
			auth := &authority.Authority{AuthorizationType: "AUTHORIZATION_TYPE_HOSTING", AuthorizationProduct: []string{"BRAND_PRODUCT_AUTHORITY_MERCHANT_CARD"}}
			for _, b := range []string{"3001", "3002"} {
				_, err := tr.Observe(ctx, b, auth)
				require.NoError(t, err)
			}
			_, err := table.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table.Name),
				Key:              map[string]types.AttributeValue{statetable.KeyAttr: statetable.String(statetable.AuthorityPrefix + "3002")},
				UpdateExpression: aws.String("REMOVE #k"), ExpressionAttributeNames: map[string]string{"#k": statetable.KindAttr}})
			require.NoError(t, err)
			_, err = table.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table.Name), Item: map[string]types.AttributeValue{
				statetable.KeyAttr: statetable.String(statetable.NotificationPrefix + "n-1"), "state": statetable.String("completed"),
			}})
			require.NoError(t, err)

			active, removed, err := store.Brands(ctx)
			require.NoError(t, err)
			assert.Equal(t, []string{"3001"}, active, "the item without a kind is not in the index")
			assert.Empty(t, removed)

			_, err = tr.Observe(ctx, "3002", auth) // unchanged: a Touch
			require.NoError(t, err)
			require.NoError(t, store.Remove(ctx, "3001"))
			active, removed, err = store.Brands(ctx)
			require.NoError(t, err)
			assert.Equal(t, []string{"3002"}, active, "joined at its check")
			assert.Equal(t, []string{"3001"}, removed, "a removed brand stays listed, as removed")
			assert.Zero(t, s.Calls("DynamoDB_20120810.Scan"))
		})
	}
}
