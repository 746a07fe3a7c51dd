package awstest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
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
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// diffEnv is one backend under the differential test.
type diffEnv struct {
	db     *dynamodb.Client
	eb     *eventbridge.Client
	q      *sqs.Client
	table  string
	bus    string
	events string // the queue subscribed to the bus
	queue  string // a plain queue
	// receipts remembers receipt handles between SQS steps.
	receipts []string
}

// diffStep is one operation; run returns its normalised result.
type diffStep struct {
	name string
	run  func(ctx context.Context, e *diffEnv) string
	want string
	// motoDiffers, when set, says why moto's answer is not compared:
	// moto differs from real AWS there, and the fake follows AWS.
	motoDiffers string
}

func S(v string) dbtypes.AttributeValue { return &dbtypes.AttributeValueMemberS{Value: v} }
func N(v string) dbtypes.AttributeValue { return &dbtypes.AttributeValueMemberN{Value: v} }
func SS(v ...string) dbtypes.AttributeValue {
	return &dbtypes.AttributeValueMemberSS{Value: v}
}

type avs = map[string]dbtypes.AttributeValue

// norm writes a value compactly, sets sorted and map keys sorted.
func norm(v dbtypes.AttributeValue) string {
	switch v := v.(type) {
	case *dbtypes.AttributeValueMemberS:
		return fmt.Sprintf("%q", v.Value)
	case *dbtypes.AttributeValueMemberN:
		return v.Value
	case *dbtypes.AttributeValueMemberB:
		return "B(" + base64.StdEncoding.EncodeToString(v.Value) + ")"
	case *dbtypes.AttributeValueMemberBOOL:
		return fmt.Sprint(v.Value)
	case *dbtypes.AttributeValueMemberNULL:
		return "null"
	case *dbtypes.AttributeValueMemberSS:
		s := append([]string(nil), v.Value...)
		sort.Strings(s)
		return "SS" + fmt.Sprint(s)
	case *dbtypes.AttributeValueMemberNS:
		s := append([]string(nil), v.Value...)
		sort.Strings(s)
		return "NS" + fmt.Sprint(s)
	case *dbtypes.AttributeValueMemberL:
		parts := make([]string, len(v.Value))
		for i, x := range v.Value {
			parts[i] = norm(x)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case *dbtypes.AttributeValueMemberM:
		return normItem(v.Value)
	}
	return fmt.Sprintf("?%T", v)
}

func normItem(it avs) string {
	if it == nil {
		return "none"
	}
	keys := make([]string, 0, len(it))
	for k := range it {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ":" + norm(it[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// errCode is an error as the comparison sees it: its code, and the item
// a failed condition check returned.
func errCode(err error) string {
	var ccf *dbtypes.ConditionalCheckFailedException
	if errors.As(err, &ccf) && ccf.Item != nil {
		return "ConditionalCheckFailedException " + normItem(ccf.Item)
	}
	if strings.Contains(err.Error(), "validation error(s) found") {
		return "client: " + err.Error()[strings.LastIndex(err.Error(), "- ")+2:]
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return "error " + err.Error()
}

func result(err error, ok func() string) string {
	if err != nil {
		return errCode(err)
	}
	return ok()
}

func put(it avs, cond string, names map[string]string, values avs, rv dbtypes.ReturnValue, onFail dbtypes.ReturnValuesOnConditionCheckFailure) func(context.Context, *diffEnv) string {
	return func(ctx context.Context, e *diffEnv) string {
		in := &dynamodb.PutItemInput{TableName: &e.table, Item: it, ExpressionAttributeNames: names, ExpressionAttributeValues: values,
			ReturnValues: rv, ReturnValuesOnConditionCheckFailure: onFail}
		if cond != "" {
			in.ConditionExpression = aws.String(cond)
		}
		out, err := e.db.PutItem(ctx, in)
		return result(err, func() string { return "ok " + normItem(out.Attributes) })
	}
}

func upd(pk, expr, cond string, names map[string]string, values avs, rv dbtypes.ReturnValue) func(context.Context, *diffEnv) string {
	return func(ctx context.Context, e *diffEnv) string {
		in := &dynamodb.UpdateItemInput{TableName: &e.table, Key: avs{"pk": S(pk)}, UpdateExpression: aws.String(expr),
			ExpressionAttributeNames: names, ExpressionAttributeValues: values, ReturnValues: rv}
		if cond != "" {
			in.ConditionExpression = aws.String(cond)
		}
		out, err := e.db.UpdateItem(ctx, in)
		return result(err, func() string { return "ok " + normItem(out.Attributes) })
	}
}

// check runs cond as the condition of a no-op update on pk, saying
// whether it held.
func check(pk, cond string, names map[string]string, values avs) func(context.Context, *diffEnv) string {
	return func(ctx context.Context, e *diffEnv) string {
		_, err := e.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &e.table, Key: avs{"pk": S(pk)},
			UpdateExpression: aws.String("REMOVE probe"), ConditionExpression: aws.String(cond),
			ExpressionAttributeNames: names, ExpressionAttributeValues: values})
		var ccf *dbtypes.ConditionalCheckFailedException
		switch {
		case err == nil:
			return "true"
		case errors.As(err, &ccf):
			return "false"
		}
		return errCode(err)
	}
}

func get(pk string) func(context.Context, *diffEnv) string {
	return func(ctx context.Context, e *diffEnv) string {
		out, err := e.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &e.table, Key: avs{"pk": S(pk)}, ConsistentRead: aws.Bool(true)})
		return result(err, func() string { return normItem(out.Item) })
	}
}

func putEvents(entries ...ebtypes.PutEventsRequestEntry) func(context.Context, *diffEnv) string {
	return func(ctx context.Context, e *diffEnv) string {
		for i := range entries {
			if entries[i].EventBusName == nil {
				entries[i].EventBusName = &e.bus
			}
		}
		out, err := e.eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
		return result(err, func() string {
			codes := make([]string, len(out.Entries))
			for i, en := range out.Entries {
				codes[i] = "id"
				if en.ErrorCode != nil {
					codes[i] = aws.ToString(en.ErrorCode)
				}
			}
			return fmt.Sprintf("failed %d %v", out.FailedEntryCount, codes)
		})
	}
}

func queueCounts(ctx context.Context, e *diffEnv) string {
	out, err := e.q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &e.queue, AttributeNames: []sqstypes.QueueAttributeName{
		sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	return result(err, func() string {
		return fmt.Sprintf("visible %s inflight %s", out.Attributes["ApproximateNumberOfMessages"], out.Attributes["ApproximateNumberOfMessagesNotVisible"])
	})
}

func batch(ids ...string) func(context.Context, *diffEnv) string {
	return func(ctx context.Context, e *diffEnv) string {
		var entries []sqstypes.SendMessageBatchRequestEntry
		for _, id := range ids {
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String("body " + id)})
		}
		out, err := e.q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &e.queue, Entries: entries})
		return result(err, func() string {
			var ok []string
			for _, s := range out.Successful {
				ok = append(ok, aws.ToString(s.Id))
			}
			sort.Strings(ok)
			return fmt.Sprintf("ok %v failed %d", ok, len(out.Failed))
		})
	}
}

var (
	past = "1600000000" // an expired TTL
	many = func() []ebtypes.PutEventsRequestEntry {
		out := make([]ebtypes.PutEventsRequestEntry, 11)
		for i := range out {
			out[i] = ebtypes.PutEventsRequestEntry{Source: aws.String("wxcard"), DetailType: aws.String("x"), Detail: aws.String(`{}`)}
		}
		return out
	}()
)

func diffSteps() []diffStep {
	pk := map[string]string{"#pk": "pk"}
	ev := func(src, dt, detail string) ebtypes.PutEventsRequestEntry {
		e := ebtypes.PutEventsRequestEntry{Detail: aws.String(detail)}
		if src != "" {
			e.Source = aws.String(src)
		}
		if dt != "" {
			e.DetailType = aws.String(dt)
		}
		return e
	}
	return []diffStep{
		// DynamoDB: conditional puts.
		{name: "put new", run: put(avs{"pk": S("a"), "n": N("2"), "s": S("hello"), "ss": SS("p", "q"), "expires_at": N(past),
			"l": &dbtypes.AttributeValueMemberL{Value: []dbtypes.AttributeValue{N("1"), S("two")}},
			"m": &dbtypes.AttributeValueMemberM{Value: avs{"k": S("v")}}}, "attribute_not_exists(#pk)", pk, nil, "", ""),
			want: "ok none"},
		{name: "put exists", run: put(avs{"pk": S("a")}, "attribute_not_exists(#pk)", pk, nil, "", ""), want: "ConditionalCheckFailedException"},
		{name: "put exists, old item asked", run: put(avs{"pk": S("a")}, "n = :one", nil, avs{":one": N("1")}, "", dbtypes.ReturnValuesOnConditionCheckFailureAllOld),
			want: `ConditionalCheckFailedException {expires_at:1600000000,l:[1,"two"],m:{k:"v"},n:2,pk:"a",s:"hello",ss:SS[p q]}`},
		{name: "TTL expired item still read", run: get("a"), want: `{expires_at:1600000000,l:[1,"two"],m:{k:"v"},n:2,pk:"a",s:"hello",ss:SS[p q]}`},
		{name: "put new with ALL_OLD", run: put(avs{"pk": S("b"), "v": N("1")}, "", nil, nil, dbtypes.ReturnValueAllOld, ""), want: "ok none"},
		{name: "put replace with ALL_OLD", run: put(avs{"pk": S("b"), "v": N("2")}, "v = :one", nil, avs{":one": N("1")}, dbtypes.ReturnValueAllOld, ""), want: `ok {pk:"b",v:1}`},

		// Conditions.
		{name: "numeric compare", run: check("a", "n < :ten", nil, avs{":ten": N("10")}), want: "true"},
		{name: "numeric compare false", run: check("a", "n > :ten", nil, avs{":ten": N("10")}), want: "false"},
		{name: "numbers equal across forms", run: check("a", "n = :two", nil, avs{":two": N("2.0")}), want: "true"},
		{name: "string compare", run: check("a", "s >= :h AND s < :i", nil, avs{":h": S("h"), ":i": S("i")}), want: "true"},
		{name: "type mismatch is false", run: check("a", "s = :two", nil, avs{":two": N("2")}), want: "false"},
		{name: "begins_with", run: check("a", "begins_with(s, :he)", nil, avs{":he": S("he")}), want: "true"},
		{name: "begins_with false", run: check("a", "begins_with(s, :lo)", nil, avs{":lo": S("lo")}), want: "false"},
		{name: "not, or, parentheses", run: check("a", "NOT (attribute_exists(nope) OR n <> :two) AND (s = :x OR attribute_exists(m.k))", nil, avs{":two": N("2"), ":x": S("x")}), want: "true"},
		{name: "and binds tighter than or", run: check("a", "attribute_exists(nope) AND attribute_exists(nope) OR attribute_exists(s)", nil, nil), want: "true"},
		{name: "absent <> value", run: check("a", "nope <> :x", nil, avs{":x": S("x")}), want: "true"},
		{name: "absent = value", run: check("a", "nope = :x", nil, avs{":x": S("x")}), want: "false"},
		{name: "nested path and index", run: check("a", "m.k = :v AND l[1] = :two", nil, avs{":v": S("v"), ":two": S("two")}), want: "true"},
		{name: "condition on absent item", run: check("zz", "attribute_exists(#pk)", map[string]string{"#pk": "pk"}, nil), want: "false"},
		{name: "between and in", run: check("a", "n BETWEEN :one AND :three AND s IN (:x, :h)", nil, avs{":one": N("1"), ":three": N("3"), ":x": S("x"), ":h": S("hello")}), want: "true"},
		{name: "contains set", run: check("a", "contains(ss, :p) AND size(l) = :two", nil, avs{":p": S("p"), ":two": N("2")}), want: "true"},

		// Updates.
		{name: "arithmetic and if_not_exists", run: upd("a", "SET n = n + :one, cnt = if_not_exists(cnt, :zero)", "", nil, avs{":one": N("1"), ":zero": N("0")}, dbtypes.ReturnValueUpdatedNew),
			want: "ok {cnt:0,n:3}"},
		{name: "subtract, decimals", run: upd("a", "SET n = n - :half", "", nil, avs{":half": N("0.5")}, dbtypes.ReturnValueUpdatedNew), want: "ok {n:2.5}"},
		{name: "add number and set", run: upd("a", "ADD ss :r, tally :five", "", nil, avs{":r": SS("r", "p"), ":five": N("5")}, dbtypes.ReturnValueAllNew),
			want: `ok {cnt:0,expires_at:1600000000,l:[1,"two"],m:{k:"v"},n:2.5,pk:"a",s:"hello",ss:SS[p q r],tally:5}`},
		{name: "delete from set, remove", run: upd("a", "DELETE ss :pq REMOVE s, m.k", "", nil, avs{":pq": SS("p", "q")}, dbtypes.ReturnValueUpdatedOld),
			want: `ok {m:{k:"v"},s:"hello",ss:SS[p q r]}`},
		{name: "delete the last of a set removes it", run: upd("a", "DELETE ss :r", "", nil, avs{":r": SS("r")}, dbtypes.ReturnValueAllNew),
			want: `ok {cnt:0,expires_at:1600000000,l:[1,"two"],m:{},n:2.5,pk:"a",tally:5}`},
		{name: "list index set and remove", run: upd("a", "SET l[1] = :x, l[5] = :y REMOVE l[0]", "", nil, avs{":x": S("x"), ":y": S("y")}, dbtypes.ReturnValueUpdatedNew),
			want: `ok {l:["x","y"]}`},
		{name: "list_append", run: upd("a", "SET l = list_append(l, :more)", "", nil, avs{":more": &dbtypes.AttributeValueMemberL{Value: []dbtypes.AttributeValue{N("9")}}}, dbtypes.ReturnValueUpdatedNew),
			want: `ok {l:["x","y",9]}`},
		{name: "conditional update fails", run: upd("a", "SET n = :one", "n = :one", nil, avs{":one": N("1")}, ""), want: "ConditionalCheckFailedException"},
		{name: "update creates the item", run: upd("c", "SET v = if_not_exists(v, :zero) + :one", "attribute_not_exists(#pk)", pk, avs{":zero": N("0"), ":one": N("1")}, dbtypes.ReturnValueAllNew),
			want: `ok {pk:"c",v:1}`},
		{name: "swap reads the old item", run: upd("a", "SET n = tally, tally = n", "", nil, nil, dbtypes.ReturnValueUpdatedNew), want: "ok {n:5,tally:2.5}"},

		// Validation.
		{name: "empty set", run: upd("a", "SET e = :e", "", nil, avs{":e": SS()}, ""), want: "ValidationException",
			motoDiffers: "moto stores an empty set; DynamoDB rejects empty sets in ExpressionAttributeValues"},
		{name: "syntax error", run: upd("a", "SET n = = :one", "", nil, avs{":one": N("1")}, ""), want: "ValidationException"},
		{name: "unused value", run: upd("a", "SET n = :one", "", nil, avs{":one": N("1"), ":two": N("2")}, ""), want: "ValidationException"},
		{name: "undefined name", run: upd("a", "SET #nope = :one", "", nil, avs{":one": N("1")}, ""), want: "ValidationException",
			motoDiffers: "moto answers 500; DynamoDB answers ValidationException (undefined expression attribute name)"},
		{name: "reserved word", run: upd("a", "SET state = :one", "", nil, avs{":one": N("1")}, ""), want: "ValidationException"},
		{name: "update the key", run: upd("a", "SET #pk = :x", "", pk, avs{":x": S("x")}, ""), want: "ValidationException"},
		{name: "arithmetic on a string", run: upd("b", "SET w = pk + :one", "", nil, avs{":one": N("1")}, ""), want: "ValidationException"},
		{name: "arithmetic on an absent attribute", run: upd("b", "SET w = nope + :one", "", nil, avs{":one": N("1")}, ""), want: "ValidationException"},
		{name: "overlapping paths", run: upd("a", "SET n = :one REMOVE n", "", nil, avs{":one": N("1")}, ""), want: "ValidationException"},
		{name: "ADD a string", run: upd("a", "ADD n :x", "", nil, avs{":x": S("x")}, ""), want: "ValidationException"},
		{name: "missing key", run: func(ctx context.Context, e *diffEnv) string {
			_, err := e.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &e.table, Key: avs{"other": S("a")}})
			return errCode(err)
		}, want: "ValidationException"},
		{name: "put without the key", run: put(avs{"v": N("1")}, "", nil, nil, "", ""), want: "ValidationException"},
		{name: "ALL_NEW on put", run: put(avs{"pk": S("z")}, "", nil, nil, dbtypes.ReturnValueAllNew, ""), want: "ValidationException"},
		{name: "no such table", run: func(ctx context.Context, e *diffEnv) string {
			_, err := e.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("nope-table"), Key: avs{"pk": S("a")}})
			return errCode(err)
		}, want: "ResourceNotFoundException"},
		{name: "delete with ALL_OLD", run: func(ctx context.Context, e *diffEnv) string {
			out, err := e.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &e.table, Key: avs{"pk": S("b")}, ReturnValues: dbtypes.ReturnValueAllOld,
				ConditionExpression: aws.String("v = :two"), ExpressionAttributeValues: avs{":two": N("2")}})
			return result(err, func() string { return "ok " + normItem(out.Attributes) })
		}, want: `ok {pk:"b",v:2}`},
		{name: "scan pages", run: func(ctx context.Context, e *diffEnv) string {
			for _, k := range []string{"p1", "p2", "p3", "p4"} {
				if _, err := e.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &e.table, Item: avs{"pk": S(k)}}); err != nil {
					return errCode(err)
				}
			}
			var keys []string
			var start avs
			for pages := 0; pages < 10; pages++ {
				out, err := e.db.Scan(ctx, &dynamodb.ScanInput{TableName: &e.table, Limit: aws.Int32(2), ExclusiveStartKey: start})
				if err != nil {
					return errCode(err)
				}
				if len(out.Items) > 2 {
					return fmt.Sprintf("page of %d", len(out.Items))
				}
				for _, it := range out.Items {
					keys = append(keys, it["pk"].(*dbtypes.AttributeValueMemberS).Value)
				}
				if out.LastEvaluatedKey == nil {
					sort.Strings(keys)
					return fmt.Sprint(keys)
				}
				start = out.LastEvaluatedKey
			}
			return "did not end"
		}, want: "[a c p1 p2 p3 p4]"},

		// EventBridge.
		{name: "put events", run: putEvents(ev("wxcard", "T", `{"a":1}`), ev("other", "T", `{}`)), want: "failed 0 [id id]"},
		{name: "put events with bad entries", run: putEvents(ev("", "T", `{}`), ev("wxcard", "", `{}`), ev("wxcard", "T", `[1]`), ev("wxcard", "T", `{bad`), ev("wxcard", "T", `{"ok":true}`)),
			want:        "failed 4 [InvalidArgument InvalidArgument MalformedDetail MalformedDetail id]",
			motoDiffers: "moto accepts a Detail that is JSON but not an object; EventBridge's Detail must be a JSON object"},
		{name: "put 11 events", run: putEvents(many...), want: "ValidationException"},
		{name: "delivered events", run: func(ctx context.Context, e *diffEnv) string {
			at := time.Date(2025, 5, 20, 5, 29, 35, 0, time.UTC)
			en := ev("wxcard", "TIMED", `{"n":1}`)
			en.Time = &at
			if r := putEvents(en)(ctx, e); r != "failed 0 [id]" {
				return r
			}
			var got []string
			for len(got) < 3 {
				out, err := e.q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &e.events, MaxNumberOfMessages: 10, WaitTimeSeconds: 2})
				if err != nil {
					return errCode(err)
				}
				if len(out.Messages) == 0 {
					break
				}
				for _, m := range out.Messages {
					var body struct {
						Version    string          `json:"version"`
						ID         string          `json:"id"`
						Source     string          `json:"source"`
						DetailType string          `json:"detail-type"`
						Time       string          `json:"time"`
						Region     string          `json:"region"`
						Resources  []string        `json:"resources"`
						Detail     json.RawMessage `json:"detail"`
					}
					if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &body); err != nil {
						return err.Error()
					}
					var detail bytes.Buffer
					if err := json.Compact(&detail, body.Detail); err != nil {
						return err.Error()
					}
					if !bytes.HasPrefix(detail.Bytes(), []byte("{")) {
						continue // moto delivers what EventBridge refuses (see above)
					}
					tm := "now"
					if body.DetailType == "TIMED" {
						tm = body.Time
					}
					got = append(got, fmt.Sprintf("%s/%s/%s/%s/%v/%v/%s/%s", body.Version, body.Source, body.DetailType, body.Region,
						body.ID != "", body.Resources, tm, detail.String()))
					if _, err := e.q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &e.events, ReceiptHandle: m.ReceiptHandle}); err != nil {
						return errCode(err)
					}
				}
			}
			sort.Strings(got)
			return strings.Join(got, " ")
		}, want: `0/wxcard/T/us-east-1/true/[]/now/{"a":1} 0/wxcard/T/us-east-1/true/[]/now/{"ok":true} 0/wxcard/TIMED/us-east-1/true/[]/2025-05-20T05:29:35Z/{"n":1}`},

		// SQS.
		{name: "send batch", run: batch("m1", "m2", "m3"), want: "ok [m1 m2 m3] failed 0"},
		{name: "batch with repeated ids", run: batch("d", "d"), want: "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"},
		{name: "batch of 11", run: batch("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"), want: "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"},
		{name: "empty batch", run: batch(), want: "client: missing required field, SendMessageBatchInput.Entries.\n"},
		{name: "counts after send", run: queueCounts, want: "visible 3 inflight 0"},
		{name: "receive two", run: func(ctx context.Context, e *diffEnv) string {
			out, err := e.q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &e.queue, MaxNumberOfMessages: 2, VisibilityTimeout: 60})
			return result(err, func() string {
				var bodies []string
				for _, m := range out.Messages {
					bodies = append(bodies, aws.ToString(m.Body))
					e.receipts = append(e.receipts, aws.ToString(m.ReceiptHandle))
				}
				return fmt.Sprint(len(bodies))
			})
		}, want: "2"},
		{name: "counts in flight", run: queueCounts, want: "visible 1 inflight 2"},
		{name: "visibility back to zero", run: func(ctx context.Context, e *diffEnv) string {
			_, err := e.q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &e.queue, ReceiptHandle: &e.receipts[0], VisibilityTimeout: 0})
			return result(err, func() string { return "ok" })
		}, want: "ok"},
		{name: "counts after visibility", run: queueCounts, want: "visible 2 inflight 1"},
		{name: "delete batch", run: func(ctx context.Context, e *diffEnv) string {
			out, err := e.q.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &e.queue, Entries: []sqstypes.DeleteMessageBatchRequestEntry{
				{Id: aws.String("x"), ReceiptHandle: &e.receipts[1]}}})
			return result(err, func() string { return fmt.Sprintf("ok %d failed %d", len(out.Successful), len(out.Failed)) })
		}, want: "ok 1 failed 0"},
		{name: "counts after delete", run: queueCounts, want: "visible 2 inflight 0"},
		{name: "receive too many", run: func(ctx context.Context, e *diffEnv) string {
			_, err := e.q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &e.queue, MaxNumberOfMessages: 11})
			return errCode(err)
		}, want: "InvalidParameterValue"},
		{name: "no such queue", run: func(ctx context.Context, e *diffEnv) string {
			_, err := e.q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("nope-queue")})
			return errCode(err)
		}, want: "AWS.SimpleQueueService.NonExistentQueue"},
	}
}

func newDiffEnv(t *testing.T, endpoint string) *diffEnv {
	t.Helper()
	e := &diffEnv{db: DynamoDB(endpoint), eb: EventBridge(endpoint), q: SQS(endpoint), table: "diff-table", bus: "diff-bus"}
	CreateStateTable(t, endpoint, e.table)
	e.events = CreateBusWithQueue(t, endpoint, e.bus)
	out, err := e.q.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String("diff-plain")})
	require.NoError(t, err)
	e.queue = aws.ToString(out.QueueUrl)
	return e
}

// TestFakeMatchesMoto runs the same operations through the real clients
// against the fake and, where installed, moto_server, and compares what
// they answer with what real AWS answers.
func TestFakeMatchesMoto(t *testing.T) {
	ctx := context.Background()
	fake := NewFake()
	t.Cleanup(fake.Close)
	envs := map[string]*diffEnv{"fake": newDiffEnv(t, fake.URL)}
	switch {
	case fakesOnly(t):
		t.Log(BackendsEnv + "=fakes: checking the fake against the expected answers only")
	case motoInstalled():
		envs["moto"] = newDiffEnv(t, StartMoto(t))
	default:
		t.Log("moto_server is not installed: checking the fake against the expected answers only")
	}
	for _, st := range diffSteps() {
		for _, name := range []string{"fake", "moto"} {
			e := envs[name]
			if e == nil {
				continue
			}
			got := st.run(ctx, e)
			if name == "moto" && st.motoDiffers != "" {
				t.Logf("moto: %s: %s (got %q)", st.name, st.motoDiffers, got)
				continue
			}
			assert.Equal(t, st.want, got, "%s: %s", name, st.name)
		}
	}
}
