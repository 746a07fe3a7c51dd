package membertable_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/internal/member"
	"github.com/wxcard/wxcard/internal/member/membertable"
	"github.com/wxcard/wxcard/internal/statetable"
	"github.com/wxcard/wxcard/pkg/membercard"
)

// A member's item on DynamoDB (moto_server): every field round trips,
// writes are conditional on the version, a deleted member expires, and
// nothing personal is stored.
func TestTableOnMoto(t *testing.T) {
	t.Parallel()
	for _, s := range awstest.Stacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			st, err := statetable.FromEnv(awstest.Getenv(s.Env(nil)))
			require.NoError(t, err)
			table := membertable.Table{Table: st}
			ctx := context.Background()
			at := time.Date(2026, 12, 7, 10, 0, 0, 123000000, time.UTC)

			absent, err := table.Get(ctx, "card", "751234212312345678901234")
			require.NoError(t, err)
			assert.Equal(t, member.Item{CardID: "card", UserCardCode: "751234212312345678901234"}, absent)

			it := member.Item{CardID: "card", UserCardCode: "751234212312345678901234", BrandID: "1004", OpenID: "oOpen", Source: member.SourcePartner,
				State: member.Pending, Level: "银卡", CreatedAt: at, Version: 1, LeaseID: "lease", LeaseUntil: at.Add(time.Minute),
				Decision:      &member.Decision{State: membercard.ConfirmFail, FailReason: "名单外", ValidDateInformation: &membercard.ValidDateInformation{Type: "PERMANENT"}},
				Confirmations: 2,
				Pending:       []eventbus.Event{{DetailType: member.RefusedEvent, Time: at, Detail: json.RawMessage(`{"card_id":"card"}`)}}}
			require.NoError(t, table.Put(ctx, it, 0))
			require.ErrorIs(t, table.Put(ctx, it, 0), member.ErrConflict, "created once")
			got, err := table.Get(ctx, "card", "751234212312345678901234")
			require.NoError(t, err)
			assert.Equal(t, it, got)

			next := got
			next.Version, next.State, next.ConfirmedAt, next.FailReason, next.Pending, next.LeaseID, next.LeaseUntil = 2, member.Refused, at, "名单外", nil, "", time.Time{}
			require.ErrorIs(t, table.Put(ctx, next, 5), member.ErrConflict)
			require.NoError(t, table.Put(ctx, next, 1))
			got, err = table.Get(ctx, "card", "751234212312345678901234")
			require.NoError(t, err)
			assert.Equal(t, next, got)

			// A write whose answer was lost, retried by the SDK: its own
			// version check fails on itself, and it is recognised.
			s.Inject("DynamoDB_20120810.PutItem", awstest.Fault{Status: 500, Type: "InternalServerError", After: true})
			deleted := next
			deleted.Version, deleted.State, deleted.DeletedAt, deleted.ErrorCode, deleted.ErrorMessage = 3, member.Deleted, at, "NOT_FOUND", "用户不存在未激活的会员卡"
			require.NoError(t, table.Put(ctx, deleted, 2))
			raw, err := st.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.Name), ConsistentRead: aws.Bool(true),
				Key: map[string]types.AttributeValue{statetable.KeyAttr: statetable.String(member.Key("card", "751234212312345678901234"))}})
			require.NoError(t, err)
			ttl, ok := raw.Item[statetable.TTLAttr].(*types.AttributeValueMemberN)
			require.True(t, ok, "a deleted member expires")
			assert.Equal(t, at.Add(member.DeletedFor).Unix(), mustInt(t, ttl.Value))
			for _, k := range []string{"phone_number", "user_information", statetable.KindAttr} {
				assert.NotContains(t, raw.Item, k)
			}
			assert.Equal(t, "oOpen", raw.Item["openid"].(*types.AttributeValueMemberS).Value)
			got, err = table.Get(ctx, "card", "751234212312345678901234")
			require.NoError(t, err)
			assert.Equal(t, deleted, got)

			// An item another writer left unreadable is an error, not a member.
			_, err = st.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(st.Name), Item: map[string]types.AttributeValue{
				statetable.KeyAttr: statetable.String(member.Key("card", "1")), "version": statetable.Number(1), "decision": statetable.String("{")}})
			require.NoError(t, err)
			_, err = table.Get(ctx, "card", "1")
			require.ErrorContains(t, err, "decision")
		})
	}
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, json.Unmarshal([]byte(s), &n))
	return n
}

// Member care on DynamoDB (moto_server): points, balance, membership
// number and waiting changes round trip; a user's members are read through
// the openid-pk index, exactly theirs, and no other item is in it.
func TestCareOnMoto(t *testing.T) {
	t.Parallel()
	for _, s := range awstest.Stacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			st, err := statetable.FromEnv(awstest.Getenv(s.Env(nil)))
			require.NoError(t, err)
			table := membertable.Table{Table: st}
			ctx := context.Background()
			at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
			level, points := "金卡", int64(70)
			it := member.Item{CardID: "card", UserCardCode: "1001", OpenID: "oMine", Source: member.SourceOpen, State: member.Effective,
				Level: "银卡", Points: 100, Balance: 2500, MembershipNumber: "M-1", CreatedAt: at, ConfirmedAt: at, Version: 1,
				Changes: []member.Change{{Version: 1, Level: &level, Points: &points, Sends: 1, AcceptedAt: at}}}
			require.NoError(t, table.Put(ctx, it, 0))
			got, err := table.Get(ctx, "card", "1001")
			require.NoError(t, err)
			assert.Equal(t, it, got)

			for i, m := range []member.Item{
				{CardID: "card", UserCardCode: "1002", OpenID: "oMine", Source: member.SourceBrand, State: member.Deleted, DeletedAt: at, Version: 1},
				{CardID: "card", UserCardCode: "1003", OpenID: "oOther", Source: member.SourceBrand, State: member.Effective, Points: 9, Version: 1},
			} {
				require.NoError(t, table.Put(ctx, m, 0), i)
			}
			// An item of another kind, without openid, is never in the index.
			_, err = st.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(st.Name), Item: map[string]types.AttributeValue{
				statetable.KeyAttr: statetable.String("notification#x"), "state": statetable.String("DONE")}})
			require.NoError(t, err)

			mine, err := table.ByOpenID(ctx, "oMine")
			require.NoError(t, err)
			assert.Equal(t, []member.Item{
				{CardID: "card", UserCardCode: "1001", OpenID: "oMine", State: member.Effective, Level: "银卡", Points: 100, Balance: 2500},
			}, mine, "the deleted member left out")
			none, err := table.ByOpenID(ctx, "oNobody")
			require.NoError(t, err)
			assert.Empty(t, none)
		})
	}
}
