// Package membertable is package member's Store in the DynamoDB state
// table (the member#<card_id>#<user_card_code> items), apart from it so
// that only the functions that keep members link the DynamoDB client.
package membertable

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/internal/member"
	"github.com/wxcard/wxcard/internal/statetable"
)

// The item's attributes besides the key (design.md, "Members"). The
// phone number and user information are never stored.
const (
	attrCardID        = "card_id"
	attrCode          = "user_card_code"
	attrBrandID       = "brand_id"
	attrOpenID        = "openid"
	attrSource        = "source"
	attrState         = "state"
	attrLevel         = "level"
	attrCreatedAt     = "created_at"
	attrConfirmedAt   = "confirmed_at"
	attrDeletedAt     = "deleted_at"
	attrVersion       = "version"
	attrDecision      = "decision" // JSON of member.Decision
	attrConfirmations = "confirmations"
	attrLeaseID       = "lease_id"
	attrLeaseUntil    = "lease_until"
	attrFailReason    = "fail_reason"
	attrErrorCode     = "error_code"
	attrErrorMessage  = "error_message"
	attrPending       = "pending"  // a list of {detail_type, time, detail}
	attrWriteID       = "write_id" // random per write: recognises a retried write that was applied
	attrPoints        = "points"
	attrBalance       = "balance"
	attrMembership    = "membership_number"
	attrChanges       = "changes" // JSON of []member.Change
)

// Table is member.Store in the DynamoDB state table.
type Table struct {
	*statetable.Table
}

func (t Table) key(cardID, code string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{statetable.KeyAttr: statetable.String(member.Key(cardID, code))}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Get reads the member, strongly consistent.
func (t Table) Get(ctx context.Context, cardID, code string) (member.Item, error) {
	out, err := t.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(t.Name), Key: t.key(cardID, code), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return member.Item{}, err
	}
	if len(out.Item) == 0 {
		return member.Item{CardID: cardID, UserCardCode: code}, nil
	}
	return decode(cardID, code, out.Item)
}

// Put replaces the item if its version is still expect (0: absent). A
// deleted member's item expires after member.DeletedFor.
func (t Table) Put(ctx context.Context, it member.Item, expect int64) error {
	av := t.key(it.CardID, it.UserCardCode)
	set := func(name, v string) {
		if v != "" {
			av[name] = statetable.String(v)
		}
	}
	setTime := func(name string, v time.Time) {
		if !v.IsZero() {
			av[name] = statetable.String(stamp(v))
		}
	}
	set(attrCardID, it.CardID)
	set(attrCode, it.UserCardCode)
	set(attrBrandID, it.BrandID)
	set(attrOpenID, it.OpenID)
	set(attrSource, string(it.Source))
	set(attrState, string(it.State))
	set(attrLevel, it.Level)
	setTime(attrCreatedAt, it.CreatedAt)
	setTime(attrConfirmedAt, it.ConfirmedAt)
	setTime(attrDeletedAt, it.DeletedAt)
	av[attrVersion] = statetable.Number(it.Version)
	if it.Decision != nil {
		b, err := json.Marshal(it.Decision)
		if err != nil {
			return err
		}
		set(attrDecision, string(b))
	}
	if it.Confirmations > 0 {
		av[attrConfirmations] = statetable.Number(int64(it.Confirmations))
	}
	set(attrLeaseID, it.LeaseID)
	setTime(attrLeaseUntil, it.LeaseUntil)
	set(attrFailReason, it.FailReason)
	set(attrErrorCode, it.ErrorCode)
	set(attrErrorMessage, it.ErrorMessage)
	if len(it.Pending) > 0 {
		list := make([]types.AttributeValue, len(it.Pending))
		for i, ev := range it.Pending {
			list[i] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
				"detail_type": statetable.String(ev.DetailType), "time": statetable.String(stamp(ev.Time)), "detail": statetable.String(string(ev.Detail)),
			}}
		}
		av[attrPending] = &types.AttributeValueMemberL{Value: list}
	}
	if it.Points != 0 {
		av[attrPoints] = statetable.Number(it.Points)
	}
	if it.Balance != 0 {
		av[attrBalance] = statetable.Number(it.Balance)
	}
	set(attrMembership, it.MembershipNumber)
	if len(it.Changes) > 0 {
		b, err := json.Marshal(it.Changes)
		if err != nil {
			return err
		}
		set(attrChanges, string(b))
	}
	if it.State == member.Deleted && !it.DeletedAt.IsZero() {
		av[statetable.TTLAttr] = statetable.Number(it.DeletedAt.Add(member.DeletedFor).Unix())
	}
	writeID := newWriteID()
	av[attrWriteID] = statetable.String(writeID)
	// A retried write whose answer was lost meets itself: its write ID and version.
	err := t.PutVersioned(ctx, av, attrVersion, expect, func(old map[string]types.AttributeValue) bool { return ownWrite(old, writeID, it.Version) })
	if errors.Is(err, statetable.ErrVersionChanged) {
		return member.ErrConflict
	}
	return err
}

// ownWrite reports whether old, the item a conditional write met, is that
// write itself: its random write ID and version.
func ownWrite(old map[string]types.AttributeValue, writeID string, version int64) bool {
	w, _ := old[attrWriteID].(*types.AttributeValueMemberS)
	v, _ := old[attrVersion].(*types.AttributeValueMemberN)
	return w != nil && w.Value == writeID && v != nil && v.Value == strconv.FormatInt(version, 10)
}

func newWriteID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ByOpenID lists the user's members but the deleted ones through the
// openid-pk index (statetable.OpenIDIndex), at most
// member.MaxMembersPerUser: the index
// projects the key, card, code, state, level, points and balance, which is
// all of the Item it fills.
func (t Table) ByOpenID(ctx context.Context, openid string) ([]member.Item, error) {
	var out []member.Item
	var start map[string]types.AttributeValue
	for {
		page, err := t.Client.Query(ctx, &dynamodb.QueryInput{
			TableName: aws.String(t.Name), IndexName: aws.String(statetable.OpenIDIndex),
			KeyConditionExpression:    aws.String("#o = :o"),
			ExpressionAttributeNames:  map[string]string{"#o": attrOpenID},
			ExpressionAttributeValues: map[string]types.AttributeValue{":o": statetable.String(openid)},
			ExclusiveStartKey:         start,
			Limit:                     aws.Int32(member.MaxMembersPerUser),
		})
		if err != nil {
			return nil, err
		}
		for _, av := range page.Items {
			it, err := decodeIndexed(openid, av)
			if err != nil {
				return nil, err
			}
			if it.State == member.Deleted {
				continue // counted against no user's limit
			}
			out = append(out, it)
			if len(out) == member.MaxMembersPerUser {
				return out, nil
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = page.LastEvaluatedKey
	}
}

// decodeIndexed reads an item of the openid-pk index.
func decodeIndexed(openid string, av map[string]types.AttributeValue) (member.Item, error) {
	str := func(name string) string {
		v, _ := av[name].(*types.AttributeValueMemberS)
		if v == nil {
			return ""
		}
		return v.Value
	}
	num := func(name string) (int64, error) {
		v, ok := av[name].(*types.AttributeValueMemberN)
		if !ok {
			return 0, nil
		}
		return strconv.ParseInt(v.Value, 10, 64)
	}
	points, err1 := num(attrPoints)
	balance, err2 := num(attrBalance)
	if err := errors.Join(err1, err2); err != nil {
		return member.Item{}, errors.New("member index item: points or balance is not a whole number")
	}
	it := member.Item{CardID: str(attrCardID), UserCardCode: str(attrCode), OpenID: openid, State: member.State(str(attrState)),
		Level: str(attrLevel), Points: points, Balance: balance}
	if it.CardID == "" || it.UserCardCode == "" {
		return member.Item{}, errors.New("member index item: no card_id or user_card_code")
	}
	return it, nil
}

func decode(cardID, code string, av map[string]types.AttributeValue) (member.Item, error) {
	str := func(name string) string {
		if v, ok := av[name].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	var bad error
	when := func(name string) time.Time {
		s := str(name)
		if s == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil && bad == nil {
			bad = fmt.Errorf("member item: %s is not a time", name)
		}
		return t
	}
	num := func(name string) int64 {
		v, ok := av[name].(*types.AttributeValueMemberN)
		if !ok {
			return 0
		}
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil && bad == nil {
			bad = fmt.Errorf("member item: %s is not a whole number", name)
		}
		return n
	}
	it := member.Item{
		CardID: cardID, UserCardCode: code, BrandID: str(attrBrandID), OpenID: str(attrOpenID),
		Source: member.Source(str(attrSource)), State: member.State(str(attrState)), Level: str(attrLevel),
		CreatedAt: when(attrCreatedAt), ConfirmedAt: when(attrConfirmedAt), DeletedAt: when(attrDeletedAt),
		Version: num(attrVersion), Confirmations: int(num(attrConfirmations)),
		LeaseID: str(attrLeaseID), LeaseUntil: when(attrLeaseUntil),
		FailReason: str(attrFailReason), ErrorCode: str(attrErrorCode), ErrorMessage: str(attrErrorMessage),
		Points: num(attrPoints), Balance: num(attrBalance), MembershipNumber: str(attrMembership),
	}
	if s := str(attrChanges); s != "" {
		if err := json.Unmarshal([]byte(s), &it.Changes); err != nil {
			return member.Item{}, errors.New("member item: changes is not JSON")
		}
	}
	if s := str(attrDecision); s != "" {
		var d member.Decision
		if err := json.Unmarshal([]byte(s), &d); err != nil {
			return member.Item{}, errors.New("member item: decision is not JSON")
		}
		it.Decision = &d
	}
	if l, ok := av[attrPending].(*types.AttributeValueMemberL); ok {
		for _, e := range l.Value {
			m, _ := e.(*types.AttributeValueMemberM)
			if m == nil {
				return member.Item{}, errors.New("member item: a pending event is not a map")
			}
			get := func(k string) string {
				s, _ := m.Value[k].(*types.AttributeValueMemberS)
				if s == nil {
					return ""
				}
				return s.Value
			}
			at, err := time.Parse(time.RFC3339Nano, get("time"))
			if err != nil {
				return member.Item{}, errors.New("member item: a pending event's time is not a time")
			}
			it.Pending = append(it.Pending, eventbus.Event{DetailType: get("detail_type"), Time: at, Detail: json.RawMessage(get("detail"))})
		}
	}
	if it.Version < 1 {
		return member.Item{}, errors.New("member item: no version")
	}
	return it, bad
}
