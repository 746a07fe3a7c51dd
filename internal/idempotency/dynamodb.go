package idempotency

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxcard/wxcard/internal/statetable"
)

// The record's attributes besides the key and the TTL.
const (
	attrStatus = "status"
	attrExpiry = "in_progress_expiry" // epoch milliseconds: the claim's end
	attrToken  = "claim_token"
	attrDoneAt = "completed_at"
)

// abandonedAfter is when DynamoDB may delete a claim nobody completed or
// released (by TTL); long after it expired and could be taken over.
const abandonedAfter = 24 * time.Hour

// Table keeps the records in the state table, as notification#<key> items.
type Table struct{ *statetable.Table }

func (t Table) key(key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{statetable.KeyAttr: statetable.String(statetable.NotificationPrefix + key)}
}

// Claim puts the record if there is none, or if the one there is a claim
// that expired; a completed record or a live claim stays. The claim's
// token is chosen before the call and written with it, so a conflict with
// a record holding that token (the SDK's retry of a write whose answer was
// lost) is recognised as this claim, not another's.
func (t Table) Claim(ctx context.Context, key string, now time.Time, ttl time.Duration) (string, error) {
	token := newToken()
	item := t.key(key)
	item[attrStatus] = statetable.String(InProgress)
	item[attrToken] = statetable.String(token)
	item[attrExpiry] = statetable.Number(now.Add(ttl).UnixMilli())
	item[statetable.TTLAttr] = statetable.Number(now.Add(abandonedAfter).Unix())
	_, err := t.Client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(t.Name),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(#pk) OR (#status = :inprogress AND #expiry < :now)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": statetable.KeyAttr, "#status": attrStatus, "#expiry": attrExpiry,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":inprogress": statetable.String(InProgress), ":now": statetable.Number(now.UnixMilli()),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf):
		if tok, ok := ccf.Item[attrToken].(*types.AttributeValueMemberS); ok && tok.Value == token {
			// Our own claim: the SDK retried a PutItem whose answer was
			// lost after DynamoDB applied it, and the retry met it. The
			// token is new to this call, so no one else can hold it.
			return token, nil
		}
		if st, ok := ccf.Item[attrStatus].(*types.AttributeValueMemberS); ok && st.Value == Completed {
			return "", ErrDone
		}
		return "", ErrBusy
	case err != nil:
		return "", fmt.Errorf("idempotency: claiming %q: %w", key, err)
	}
	return token, nil
}

// Complete marks the record completed if it is still this claim.
func (t Table) Complete(ctx context.Context, key, token string, now time.Time, keep time.Duration) error {
	_, err := t.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(t.Name),
		Key:                 t.key(key),
		UpdateExpression:    aws.String("SET #status = :completed, #done = :now, #ttl = :ttl REMOVE #expiry"),
		ConditionExpression: aws.String("#token = :token"),
		ExpressionAttributeNames: map[string]string{
			"#status": attrStatus, "#done": attrDoneAt, "#ttl": statetable.TTLAttr, "#expiry": attrExpiry, "#token": attrToken,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":completed": statetable.String(Completed), ":now": statetable.String(now.UTC().Format(time.RFC3339)),
			":ttl": statetable.Number(now.Add(keep).Unix()), ":token": statetable.String(token),
		},
	})
	switch {
	case statetable.ConditionFailed(err):
		return ErrLost
	case err != nil:
		return fmt.Errorf("idempotency: completing %q: %w", key, err)
	}
	return nil
}

// Release deletes the record if it is still this claim, in progress.
func (t Table) Release(ctx context.Context, key, token string) error {
	_, err := t.Client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(t.Name),
		Key:                       t.key(key),
		ConditionExpression:       aws.String("#token = :token AND #status = :inprogress"),
		ExpressionAttributeNames:  map[string]string{"#token": attrToken, "#status": attrStatus},
		ExpressionAttributeValues: map[string]types.AttributeValue{":token": statetable.String(token), ":inprogress": statetable.String(InProgress)},
	})
	if err != nil && !statetable.ConditionFailed(err) {
		return fmt.Errorf("idempotency: releasing %q: %w", key, err)
	}
	return nil
}
