// Package statetable names the DynamoDB table that cardevents and
// authorities share (design.md, "State and events"): one string partition
// key pk, no sort key, TTL attribute expires_at in epoch seconds. Items are
// notification#<id> (idempotency records) and authority#<brand_id>
// (product-authority snapshots); the packages that own each kind of item
// read and write it.
package statetable

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxcard/wxcard/internal/awsenv"
)

// The table's attribute names.
const (
	KeyAttr = "pk"         // the partition key, a string
	TTLAttr = "expires_at" // epoch seconds; DynamoDB deletes the item some time after
	// KindAttr is the partition key of KindIndex, carried only by the
	// items listed through it: authority# items, whose value is KindAuthority.
	KindAttr = "kind"
)

// KindIndex is the table's sparse global secondary index: partition key
// KindAttr, sort key KeyAttr, projecting the state attribute too. Only
// items with a KindAttr are in it, so the schedule lists the brands by a
// Query that reads the brands alone, never the notification records.
const (
	KindIndex     = "kind-pk"
	KindAuthority = "authority"
)

// OpenIDIndex is the table's other sparse index: partition key openid,
// sort key KeyAttr, projecting what GET /members/me answers. Only member
// items carry openid, so it lists a user's members and nothing else.
const OpenIDIndex = "openid-pk"

// Key prefixes of the two kinds of item.
const (
	NotificationPrefix = "notification#"
	AuthorityPrefix    = "authority#"
)

// API is the part of the DynamoDB client the state's owners use.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Table is the state table and a client to reach it.
type Table struct {
	Client API
	Name   string
}

// FromEnv builds the Table from the function's environment:
// STATE_TABLE_NAME, the AWS region and credentials, and
// AWS_ENDPOINT_URL_DYNAMODB for a local endpoint.
func FromEnv(getenv func(string) string) (*Table, error) {
	name := strings.TrimSpace(getenv("STATE_TABLE_NAME"))
	if name == "" {
		return nil, errors.New("STATE_TABLE_NAME is not set: name the DynamoDB state table")
	}
	env, err := awsenv.FromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("AWS environment: %w", err)
	}
	c := dynamodb.New(dynamodb.Options{Region: env.Region, Credentials: env.Credentials, BaseEndpoint: env.Endpoint("DYNAMODB")})
	return &Table{Client: c, Name: name}, nil
}

// String is a string attribute value.
func String(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// Number is a number attribute value.
func Number(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// ErrVersionChanged is a PutVersioned whose expected version was no
// longer stored: another writer got there first.
var ErrVersionChanged = errors.New("statetable: the item's version changed since it was read")

// PutVersioned writes item if its versionAttr still holds expect (0: no
// item with its key yet): the optimistic concurrency of every owner of
// the table's items. On a failed condition DynamoDB answers the item it
// met; own reports whether that item is this very write, which the SDK
// retried after its answer was lost and whose retry failed its own
// version check: then the write is done. Any other failed condition is
// ErrVersionChanged.
func (t *Table) PutVersioned(ctx context.Context, item map[string]types.AttributeValue, versionAttr string, expect int64,
	own func(old map[string]types.AttributeValue) bool) error {
	in := &dynamodb.PutItemInput{TableName: &t.Name, Item: item,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}
	if expect == 0 {
		in.ConditionExpression = ptr("attribute_not_exists(#pk)")
		in.ExpressionAttributeNames = map[string]string{"#pk": KeyAttr}
	} else {
		in.ConditionExpression = ptr("#v = :v")
		in.ExpressionAttributeNames = map[string]string{"#v": versionAttr}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": Number(expect)}
	}
	_, err := t.Client.PutItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf) && own(ccf.Item):
		return nil
	case ConditionFailed(err):
		return ErrVersionChanged
	}
	return err
}

func ptr(s string) *string { return &s }

// ConditionFailed reports whether err is DynamoDB refusing a write whose
// condition did not hold.
func ConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}
