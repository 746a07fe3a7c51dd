// Package authtable is package authority's Store in the DynamoDB state
// table, apart from it so that a function links the DynamoDB client only
// when it reads or writes the snapshots.
package authtable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxcard/wxcard/internal/authority"
	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/internal/statetable"
)

// The item's attributes besides the key.
const (
	attrBrandID      = "brand_id"
	attrState        = "state"
	attrType         = "authorization_type"
	attrProducts     = "authorization_product" // a string set; absent when revoked (DynamoDB has no empty set)
	attrUpdateTime   = "update_time"
	attrCheckedAt    = "checked_at"
	attrVersion      = "version"
	attrPending      = "pending" // a list of {detail_type, time, detail}
	attrPendingID    = "pending_id"
	attrPendingSince = "pending_since"
)

// Table is the Store in the DynamoDB state table.
type Table struct {
	*statetable.Table
	// PageSize, when not 0, is how many items each page of Brands reads;
	// DynamoDB otherwise pages at 1 MB.
	PageSize int32
}

func (t Table) key(brandID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{statetable.KeyAttr: statetable.String(statetable.AuthorityPrefix + brandID)}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Get reads the brand's item, strongly consistent.
func (t Table) Get(ctx context.Context, brandID string) (authority.Item, error) {
	out, err := t.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(t.Name), Key: t.key(brandID), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return authority.Item{}, err
	}
	if len(out.Item) == 0 {
		return authority.Item{BrandID: brandID}, nil
	}
	return decodeItem(brandID, out.Item)
}

// Put replaces the item if its version is still expect.
func (t Table) Put(ctx context.Context, it authority.Item, expect int64) error {
	av := t.key(it.BrandID)
	av[attrBrandID] = statetable.String(it.BrandID)
	av[statetable.KindAttr] = statetable.String(statetable.KindAuthority)
	av[attrState] = statetable.String(string(it.State))
	av[attrCheckedAt] = statetable.String(stamp(it.CheckedAt))
	av[attrVersion] = statetable.Number(it.Version)
	if a := it.Authority; a != nil {
		av[attrType] = statetable.String(a.AuthorizationType)
		av[attrUpdateTime] = statetable.String(a.UpdateTime)
		if len(a.AuthorizationProduct) > 0 {
			av[attrProducts] = &types.AttributeValueMemberSS{Value: a.AuthorizationProduct}
		}
	}
	if len(it.Pending) > 0 {
		list := make([]types.AttributeValue, len(it.Pending))
		for i, ev := range it.Pending {
			list[i] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
				"detail_type": statetable.String(ev.DetailType), "time": statetable.String(stamp(ev.Time)), "detail": statetable.String(string(ev.Detail)),
			}}
		}
		av[attrPending] = &types.AttributeValueMemberL{Value: list}
		av[attrPendingID] = statetable.String(it.PendingID)
		av[attrPendingSince] = statetable.String(stamp(it.PendingSince))
	}
	if !it.ExpiresAt.IsZero() {
		av[statetable.TTLAttr] = statetable.Number(it.ExpiresAt.Unix())
	}
	// A retried write whose answer was lost meets itself: its pending ID,
	// new to this check, and its version.
	err := t.PutVersioned(ctx, av, attrVersion, expect, func(old map[string]types.AttributeValue) bool { return ownWrite(old, it) })
	if errors.Is(err, statetable.ErrVersionChanged) {
		return authority.ErrConflict
	}
	return err
}

// ownWrite reports whether old, the item a conditional write met, is that
// write itself: it holds the write's pending ID and version. A pending ID
// is random and new to each write, so no other writer can have put it.
func ownWrite(old map[string]types.AttributeValue, it authority.Item) bool {
	pid, _ := old[attrPendingID].(*types.AttributeValueMemberS)
	v, _ := old[attrVersion].(*types.AttributeValueMemberN)
	return it.PendingID != "" && pid != nil && pid.Value == it.PendingID &&
		v != nil && v.Value == strconv.FormatInt(it.Version, 10)
}

// Touch records a check that changed nothing.
func (t Table) Touch(ctx context.Context, brandID string, checkedAt time.Time, updateTime string, expiresAt time.Time, expect int64) error {
	// The kind too: a snapshot written before the index existed joins it
	// at its next check.
	set := "SET #c = :c, #k = :k"
	names := map[string]string{"#c": attrCheckedAt, "#v": attrVersion, "#k": statetable.KindAttr}
	values := map[string]types.AttributeValue{":c": statetable.String(stamp(checkedAt)), ":v": statetable.Number(expect),
		":k": statetable.String(statetable.KindAuthority)}
	if updateTime != "" {
		set += ", #u = :u"
		names["#u"] = attrUpdateTime
		values[":u"] = statetable.String(updateTime)
	}
	if !expiresAt.IsZero() {
		set += ", #e = :e"
		names["#e"] = statetable.TTLAttr
		values[":e"] = statetable.Number(expiresAt.Unix())
	}
	_, err := t.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(t.Name), Key: t.key(brandID), UpdateExpression: aws.String(set),
		ConditionExpression: aws.String("#v = :v"), ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	})
	if statetable.ConditionFailed(err) {
		return authority.ErrConflict
	}
	return err
}

// ClearPending removes the pending events if pendingID owns them.
func (t Table) ClearPending(ctx context.Context, brandID, pendingID string) error {
	return t.ifOwner(ctx, brandID, pendingID, "REMOVE #p, #pid, #ps SET #v = #v + :one",
		map[string]string{"#p": attrPending}, nil)
}

// Release gives up the pending events if pendingID owns them.
func (t Table) Release(ctx context.Context, brandID, pendingID string) error {
	return t.ifOwner(ctx, brandID, pendingID, "SET #ps = :zero, #v = #v + :one",
		nil, map[string]types.AttributeValue{":zero": statetable.String(stamp(time.Unix(0, 0)))})
}

// ifOwner applies update if pending_id is still pendingID.
func (t Table) ifOwner(ctx context.Context, brandID, pendingID, update string, names map[string]string, values map[string]types.AttributeValue) error {
	if names == nil {
		names = map[string]string{}
	}
	if values == nil {
		values = map[string]types.AttributeValue{}
	}
	names["#pid"], names["#ps"], names["#v"] = attrPendingID, attrPendingSince, attrVersion
	values[":id"], values[":one"] = statetable.String(pendingID), statetable.Number(1)
	_, err := t.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(t.Name), Key: t.key(brandID), UpdateExpression: aws.String(update),
		ConditionExpression: aws.String("#pid = :id"), ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	})
	if statetable.ConditionFailed(err) {
		return nil // another check owns them now
	}
	return err
}

func decodeItem(brandID string, av map[string]types.AttributeValue) (authority.Item, error) {
	str := func(name string) string {
		if v, ok := av[name].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	when := func(name string) (time.Time, error) {
		v := str(name)
		if v == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return time.Time{}, fmt.Errorf("authority#%s: attribute %s: %w", brandID, name, err)
		}
		return t, nil
	}
	it := authority.Item{BrandID: brandID, State: authority.State(str(attrState)), PendingID: str(attrPendingID)}
	v, ok := av[attrVersion].(*types.AttributeValueMemberN)
	if !ok {
		return authority.Item{}, fmt.Errorf("authority#%s: attribute %s is missing or not a number", brandID, attrVersion)
	}
	var err error
	if it.Version, err = strconv.ParseInt(v.Value, 10, 64); err != nil || it.Version < 1 {
		return authority.Item{}, fmt.Errorf("authority#%s: attribute %s is %q, not a positive integer", brandID, attrVersion, v.Value)
	}
	if it.CheckedAt, err = when(attrCheckedAt); err != nil {
		return authority.Item{}, err
	}
	if it.PendingSince, err = when(attrPendingSince); err != nil {
		return authority.Item{}, err
	}
	if n, ok := av[statetable.TTLAttr].(*types.AttributeValueMemberN); ok {
		secs, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil {
			return authority.Item{}, fmt.Errorf("authority#%s: attribute %s is %q, not epoch seconds", brandID, statetable.TTLAttr, n.Value)
		}
		it.ExpiresAt = time.Unix(secs, 0)
	}
	if it.State == authority.Authorised {
		a := authority.Authority{AuthorizationType: str(attrType), UpdateTime: str(attrUpdateTime), AuthorizationProduct: []string{}}
		if ss, ok := av[attrProducts].(*types.AttributeValueMemberSS); ok {
			a.AuthorizationProduct = ss.Value
		}
		a = a.Normalise() // DynamoDB keeps a set in no particular order
		it.Authority = &a
	}
	if l, ok := av[attrPending].(*types.AttributeValueMemberL); ok {
		for i, e := range l.Value {
			m, ok := e.(*types.AttributeValueMemberM)
			if !ok {
				return authority.Item{}, fmt.Errorf("authority#%s: pending event %d is not a map", brandID, i)
			}
			get := func(k string) string {
				if v, ok := m.Value[k].(*types.AttributeValueMemberS); ok {
					return v.Value
				}
				return ""
			}
			at, err := time.Parse(time.RFC3339Nano, get("time"))
			if err != nil || !json.Valid([]byte(get("detail"))) {
				return authority.Item{}, fmt.Errorf("authority#%s: pending event %d is malformed", brandID, i)
			}
			it.Pending = append(it.Pending, eventbus.Event{DetailType: get("detail_type"), Time: at, Detail: json.RawMessage(get("detail"))})
		}
	}
	return it, nil
}

// Brands lists the brands that have a snapshot, and apart those removed:
// a paginated Query of the table's sparse index (statetable.KindIndex),
// which holds the authority# items alone, reading their key and state.
// Its cost grows with the brands, never with the notification records
// (README, "Scheduled refresh, at scale").
func (t Table) Brands(ctx context.Context) (active, removed []string, err error) {
	in := &dynamodb.QueryInput{
		TableName:              aws.String(t.Name),
		IndexName:              aws.String(statetable.KindIndex),
		KeyConditionExpression: aws.String("#k = :k"),
		// These attributes alone, said explicitly: the scheduler's role
		// may read no other (template.yaml, dynamodb:Attributes, Select).
		Select:                    types.SelectSpecificAttributes,
		ProjectionExpression:      aws.String("#pk, #s"),
		ExpressionAttributeNames:  map[string]string{"#pk": statetable.KeyAttr, "#s": attrState, "#k": statetable.KindAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":k": statetable.String(statetable.KindAuthority)},
	}
	if t.PageSize > 0 {
		in.Limit = aws.Int32(t.PageSize)
	}
	pages := dynamodb.NewQueryPaginator(t.Client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("authority: listing the brands with a snapshot: %w", err)
		}
		for _, it := range page.Items {
			k, ok := it[statetable.KeyAttr].(*types.AttributeValueMemberS)
			if !ok || !strings.HasPrefix(k.Value, statetable.AuthorityPrefix) {
				continue
			}
			id := strings.TrimPrefix(k.Value, statetable.AuthorityPrefix)
			if s, _ := it[attrState].(*types.AttributeValueMemberS); s != nil && authority.State(s.Value) == authority.Removed {
				removed = append(removed, id)
			} else {
				active = append(active, id)
			}
		}
	}
	return active, removed, nil
}

// Remove marks the brand's snapshot Removed, forgetting its authority,
// for RemovedFor, unless it holds events not yet published (ErrPending)
// or there is none, or it is removed already (ErrNoSnapshot). The version
// moves, so a check in flight reads again and sees the mark.
//
// The write names only the attributes of a removal (the scheduler's role
// may write no others: not the pending events, which get published): it
// expects the version read, and a snapshot changed meanwhile is read
// again.
func (t Table) Remove(ctx context.Context, brandID string) error {
	for range authority.MaxAttempts {
		it, err := t.Get(ctx, brandID)
		switch {
		case err != nil:
			return err
		case it.Version == 0 || it.State == authority.Removed:
			return authority.ErrNoSnapshot
		case len(it.Pending) > 0:
			return authority.ErrPending
		}
		_, err = t.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(t.Name), Key: t.key(brandID),
			UpdateExpression:    aws.String("SET #s = :removed, #e = :exp, #v = #v + :one, #k = :k REMOVE #t, #ps, #u"),
			ConditionExpression: aws.String("#v = :v"),
			ExpressionAttributeNames: map[string]string{"#s": attrState, "#e": statetable.TTLAttr,
				"#v": attrVersion, "#t": attrType, "#ps": attrProducts, "#u": attrUpdateTime, "#k": statetable.KindAttr},
			ExpressionAttributeValues: map[string]types.AttributeValue{":removed": statetable.String(string(authority.Removed)),
				":k":   statetable.String(statetable.KindAuthority),
				":exp": statetable.Number(time.Now().Add(authority.RemovedFor).Unix()), ":one": statetable.Number(1), ":v": statetable.Number(it.Version)},
		})
		if !statetable.ConditionFailed(err) {
			return err
		}
	}
	return fmt.Errorf("authority: brand %s: snapshot kept changing during %d attempts to remove it", brandID, authority.MaxAttempts)
}

// Restore forgets the brand's removal, if it was removed: its next check
// sees it for the first time.
func (t Table) Restore(ctx context.Context, brandID string) error {
	_, err := t.Client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(t.Name), Key: t.key(brandID),
		ConditionExpression:       aws.String("#s = :removed"),
		ExpressionAttributeNames:  map[string]string{"#s": attrState},
		ExpressionAttributeValues: map[string]types.AttributeValue{":removed": statetable.String(string(authority.Removed))},
	})
	if statetable.ConditionFailed(err) {
		return nil // not removed: nothing to forget
	}
	return err
}
