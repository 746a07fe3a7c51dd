package session_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/kmssign"
	"github.com/wxcard/wxcard/internal/lambdainit"
	"github.com/wxcard/wxcard/internal/session"
)

// The keys function's cold start against moto_server's KMS through the
// real SDK client, built from the environment as in Lambda: KMS's answer
// for a previous key that does not exist is read as settled (no wait at
// every cold start), by its code, through the SDK's wrapping.
//
// moto_server differs from AWS for a key pending deletion: it answers
// GetPublicKey, where AWS refuses with KMSInvalidStateException (the
// scripted tests cover AWS's answer). The test asserts moto's, so that a
// change of moto's is noticed.
func TestKeysFromEnvOnMoto(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	environ := awstest.Env("http://127.0.0.1:1", map[string]string{"AWS_ENDPOINT_URL_KMS": awstest.StartMoto(t)})
	c, err := kmssign.ClientFromEnv(awstest.Getenv(environ))
	require.NoError(t, err)
	create := func() string {
		out, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeSignVerify})
		require.NoError(t, err)
		return aws.ToString(out.KeyMetadata.Arn)
	}
	current, kept, pending := create(), create(), create()
	_, err = c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(pending[len(pending)-36:]), PendingWindowInDays: aws.Int32(7)})
	require.NoError(t, err)
	deleted := current[:len(current)-36] + "00000000-0000-0000-0000-000000000000"
	environ["SESSION_KMS_KEY_ID"] = current
	environ["SESSION_PREVIOUS_KMS_KEY_IDS"] = pending + "," + deleted + "," + kept

	s := &keysStart{clock: &fakeClock{}, logs: &logBuf{}, emf: &logBuf{}}
	fn := lambdainit.From("sessionkeys", s.logs, s.emf, env(nil))
	s.keys, s.err = session.KeysFromEnv(ctx, awstest.Getenv(environ), session.Deps{Logger: fn.Logger, Metrics: fn.Metrics, Now: s.clock.Now, Sleep: s.clock.Sleep})
	assert.Len(t, s.published(t), 3, "the current key, the one kept and, on moto only, the one pending deletion")
	assert.Empty(t, s.clock.slept)
	assert.Equal(t, 1.0, s.unreadable(t))
	lines := s.errorLines(t)
	require.Len(t, lines, 1)
	assert.Equal(t, deleted, lines[0]["key_id"])
	assert.Equal(t, "NotFoundException", lines[0]["code"])
}
