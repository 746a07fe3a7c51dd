package idempotency_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/idempotency"
	"github.com/wxcard/wxcard/internal/statetable"
)

// stores are the Memory store and the state table on each AWS backend,
// all held to the same semantics.
func stores(t *testing.T) map[string]idempotency.Store {
	out := map[string]idempotency.Store{"memory": &idempotency.Memory{}}
	for _, s := range awstest.Stacks(t) {
		table, err := statetable.FromEnv(awstest.Getenv(s.Env(nil)))
		require.NoError(t, err)
		out[s.Name] = idempotency.Table{Table: table}
	}
	return out
}

var t0 = time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)

const ttl, keep = 30 * time.Second, 7 * 24 * time.Hour

func TestClaimCompleteRepeat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			tok, err := st.Claim(ctx, "n1", t0, ttl)
			require.NoError(t, err)
			_, err = st.Claim(ctx, "n1", t0.Add(time.Second), ttl)
			require.ErrorIs(t, err, idempotency.ErrBusy, "a live claim is not taken")
			require.NoError(t, st.Complete(ctx, "n1", tok, t0.Add(2*time.Second), keep))
			_, err = st.Claim(ctx, "n1", t0.Add(time.Hour), ttl)
			require.ErrorIs(t, err, idempotency.ErrDone, "a completed key is not done again, however late")
			_, err = st.Claim(ctx, "n2", t0, ttl)
			require.NoError(t, err, "keys are independent")
		})
	}
}

// A claim left by a crash is taken over once it expired; the crashed
// holder can then no longer complete it.
func TestExpiredClaimIsTakenOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			crashed, err := st.Claim(ctx, "n1", t0, ttl)
			require.NoError(t, err)
			_, err = st.Claim(ctx, "n1", t0.Add(ttl), ttl)
			require.ErrorIs(t, err, idempotency.ErrBusy, "not before it expired")
			retry, err := st.Claim(ctx, "n1", t0.Add(ttl+time.Millisecond), ttl)
			require.NoError(t, err, "taken over after it expired")
			require.ErrorIs(t, st.Complete(ctx, "n1", crashed, t0.Add(ttl+time.Second), keep), idempotency.ErrLost)
			require.NoError(t, st.Release(ctx, "n1", crashed), "a stale release is a no-op")
			_, err = st.Claim(ctx, "n1", t0.Add(ttl+2*time.Second), ttl)
			require.ErrorIs(t, err, idempotency.ErrBusy, "the stale release did not drop the new claim")
			require.NoError(t, st.Complete(ctx, "n1", retry, t0.Add(ttl+3*time.Second), keep))
		})
	}
}

// A failed attempt releases its claim: the retry claims at once.
func TestReleaseLetsTheRetryClaim(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			tok, err := st.Claim(ctx, "n1", t0, ttl)
			require.NoError(t, err)
			require.NoError(t, st.Release(ctx, "n1", tok))
			_, err = st.Claim(ctx, "n1", t0.Add(time.Second), ttl)
			require.NoError(t, err)
		})
	}
}

// Twenty concurrent claims of one key: exactly one wins.
func TestConcurrentClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			// DynamoDB applies a conditional write atomically; moto_server
			// does not lock between evaluating the condition and writing (two
			// concurrent claims were both seen to win there). On moto the
			// claims go one after another, which still shows that the
			// condition lets exactly one win; the in-memory store's are
			// concurrent.
			concurrent := name == "memory"
			var wg sync.WaitGroup
			results := make(chan error, 20)
			for i := 0; i < 20; i++ {
				wg.Add(1)
				claim := func() {
					defer wg.Done()
					_, err := st.Claim(ctx, "n1", t0, ttl)
					results <- err
				}
				if concurrent {
					go claim()
				} else {
					claim()
				}
			}
			wg.Wait()
			close(results)
			won := 0
			for err := range results {
				if err == nil {
					won++
				} else {
					require.ErrorIs(t, err, idempotency.ErrBusy)
				}
			}
			assert.Equal(t, 1, won)
		})
	}
}

// The record is the design's: notification#<id>, TTL in expires_at, kept
// seven days once completed.
func TestTableRecordShape(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, s := range awstest.Stacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			table, err := statetable.FromEnv(awstest.Getenv(s.Env(nil)))
			require.NoError(t, err)
			st := idempotency.Table{Table: table}
			tok, err := st.Claim(ctx, "8b33f79f", t0, ttl)
			require.NoError(t, err)
			require.NoError(t, st.Complete(ctx, "8b33f79f", tok, t0, keep))
			out, err := table.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table.Name),
				Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "notification#8b33f79f"}}})
			require.NoError(t, err)
			require.NotEmpty(t, out.Item)
			assert.Equal(t, &types.AttributeValueMemberS{Value: "COMPLETED"}, out.Item["status"])
			assert.Equal(t, &types.AttributeValueMemberN{Value: strconv.FormatInt(t0.Add(keep).Unix(), 10)}, out.Item["expires_at"])
			assert.NotContains(t, out.Item, "in_progress_expiry")
		})
	}
}

// The claim's answer lost: DynamoDB applied the PutItem, the answer never
// arrived, and the SDK's retry met the claim it had just written. The
// claim is recognised as this invocation's own (its token), not read as
// another's live claim: the notification is not blocked for ClaimTTL.
func TestClaimWithLostAnswerIsOurs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, s := range awstest.Stacks(t) {
		t.Run(s.Name, func(t *testing.T) {
			table, err := statetable.FromEnv(awstest.Getenv(s.Env(nil)))
			require.NoError(t, err)
			st := idempotency.Table{Table: table}
			s.Inject("DynamoDB_20120810.PutItem", awstest.Fault{Status: 500, Type: "InternalServerError", After: true})
			tok, err := st.Claim(ctx, "n1", t0, ttl)
			require.NoError(t, err, "the retry met our own claim")
			require.Equal(t, 2, s.Calls("DynamoDB_20120810.PutItem"), "the first answer was lost and the SDK retried")
			_, err = st.Claim(ctx, "n1", t0.Add(time.Second), ttl)
			require.ErrorIs(t, err, idempotency.ErrBusy, "another invocation still finds the claim live")
			require.NoError(t, st.Complete(ctx, "n1", tok, t0.Add(2*time.Second), keep), "the token returned is the one stored")
		})
	}
}
