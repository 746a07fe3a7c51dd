package lambdadecider_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/member"
	"github.com/wxcard/wxcard/internal/member/lambdadecider"
	"github.com/wxcard/wxcard/pkg/membercard"
)

var opening = member.Opening{BrandID: "1004", CardID: "pbLatjvWOibDc5-TBnbUk1pD12o0", UserCardCode: "751234212312345678901234",
	OpenID: "obLatjnx9gnqzS4myYGmLZ7LgLBA", Level: "银卡", PhoneNumber: "encrypted-phone"}

// lambdaFake answers an Invoke as Lambda would, and keeps what it got.
type lambdaFake struct {
	payload  string
	fnErr    string // X-Amz-Function-Error
	err      error
	wait     bool // answer only when the context ends
	in       *lambda.InvokeInput
	deadline time.Duration
}

func (l *lambdaFake) Invoke(ctx context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	l.in = in
	if dl, ok := ctx.Deadline(); ok {
		l.deadline = time.Until(dl)
	}
	if l.wait {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if l.err != nil {
		return nil, l.err
	}
	out := &lambda.InvokeOutput{StatusCode: 200, Payload: []byte(l.payload)}
	if l.fnErr != "" {
		out.FunctionError = aws.String(l.fnErr)
	}
	return out, nil
}

// The brand's function gets the opening as the notification carried it,
// synchronously, and its answer is taken only when it is a valid decision.
func TestLambdaDecider(t *testing.T) {
	const arn = "arn:aws:lambda:ap-east-1:123456789012:function:brand-decides"
	t.Run("valid", func(t *testing.T) {
		fake := &lambdaFake{payload: `{"state":"CREATE_CARD_SUCCESS","level":"金卡","attach":"vip",
			"valid_date_information":{"type":"FIX_TERM","available_day_after_receive":365}}`}
		d, err := lambdadecider.Decider{Client: fake, FunctionARN: arn}.Decide(context.Background(), opening)
		require.NoError(t, err)
		assert.Equal(t, member.Decision{State: membercard.ConfirmSuccess, Level: "金卡", Attach: "vip",
			ValidDateInformation: &membercard.ValidDateInformation{Type: "FIX_TERM", AvailableDayAfterReceive: 365}}, d)
		assert.Equal(t, arn, aws.ToString(fake.in.FunctionName))
		assert.Equal(t, types.InvocationTypeRequestResponse, fake.in.InvocationType)
		var got map[string]any
		require.NoError(t, json.Unmarshal(fake.in.Payload, &got))
		assert.Equal(t, map[string]any{"brand_id": "1004", "card_id": opening.CardID, "user_card_code": opening.UserCardCode,
			"openid": opening.OpenID, "level": "银卡", "phone_number": "encrypted-phone"}, got)
		assert.InDelta(t, member.DecisionTimeout.Seconds(), fake.deadline.Seconds(), 1)
	})
	for name, tc := range map[string]struct {
		fake  *lambdaFake
		field string // the invalid field named
		want  string // in the error
	}{
		"function error":   {fake: &lambdaFake{fnErr: "Unhandled", payload: `{"errorType":"Runtime.ExitError","errorMessage":"phone 13800138000 not found"}`}, want: "Runtime.ExitError"},
		"invoke fails":     {fake: &lambdaFake{err: errors.New("AccessDeniedException")}, want: "AccessDenied"},
		"times out":        {fake: &lambdaFake{wait: true}, want: "deadline"},
		"not JSON":         {fake: &lambdaFake{payload: `yes`}, want: "not a decision"},
		"null":             {fake: &lambdaFake{payload: `null`}, want: "not a decision"},
		"unknown key":      {fake: &lambdaFake{payload: `{"state":"CREATE_CARD_SUCCESS","points":5}`}, field: "points"},
		"null field":       {fake: &lambdaFake{payload: `{"state":"CREATE_CARD_SUCCESS","level":null}`}, field: "level"},
		"duplicate key":    {fake: &lambdaFake{payload: `{"state":"CREATE_CARD_SUCCESS","state":"CREATE_CARD_FAIL"}`}, field: "state"},
		"wrong type":       {fake: &lambdaFake{payload: `{"state":true}`}, field: "state"},
		"invalid state":    {fake: &lambdaFake{payload: `{"state":"OK"}`}, field: "state"},
		"emoji level":      {fake: &lambdaFake{payload: `{"state":"CREATE_CARD_SUCCESS","level":"😀"}`}, want: "emoji"},
		"answer too large": {fake: &lambdaFake{payload: `{"state":"CREATE_CARD_SUCCESS","attach":"` + strings.Repeat("a", 17<<10) + `"}`}, want: "more than"},
	} {
		t.Run(name, func(t *testing.T) {
			d := lambdadecider.Decider{Client: tc.fake, FunctionARN: arn, Timeout: 50 * time.Millisecond}
			_, err := d.Decide(context.Background(), opening)
			require.Error(t, err)
			assert.Contains(t, err.Error(), arn)
			if tc.want != "" {
				assert.Contains(t, err.Error(), tc.want)
			}
			if tc.field != "" {
				assert.Contains(t, err.Error(), tc.field, "the invalid field is named")
			}
			assert.NotContains(t, err.Error(), "13800138000", "never the function's message")
			assert.NotContains(t, err.Error(), opening.UserCardCode)
		})
	}
}

func TestDeciderFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	d, err := lambdadecider.FromEnv(env(nil))
	require.NoError(t, err)
	assert.Equal(t, member.AlwaysConfirm{}, d)

	aws := map[string]string{"AWS_REGION": "ap-east-1", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
		"MEMBER_CONFIRM_FUNCTION": "arn:aws:lambda:ap-east-1:123456789012:function:decide"}
	d, err = lambdadecider.FromEnv(env(aws))
	require.NoError(t, err)
	ld, ok := d.(lambdadecider.Decider)
	require.True(t, ok)
	assert.Equal(t, "arn:aws:lambda:ap-east-1:123456789012:function:decide", ld.FunctionARN)

	aws["MEMBER_CONFIRM_FUNCTION"] = "has space"
	_, err = lambdadecider.FromEnv(env(aws))
	require.ErrorContains(t, err, "MEMBER_CONFIRM_FUNCTION")
	_, err = lambdadecider.FromEnv(env(map[string]string{"MEMBER_CONFIRM_FUNCTION": "decide"}))
	require.ErrorContains(t, err, "AWS_REGION")
}

// The bounds, to the byte: an answer of exactly 16 KiB is read; a
// function name of 170 characters (Lambda's longest ARN) is taken.
func TestBounds(t *testing.T) {
	valid := `{"state":"CREATE_CARD_SUCCESS"}`
	fake := &lambdaFake{payload: valid + strings.Repeat(" ", 16<<10-len(valid))}
	d, err := lambdadecider.Decider{Client: fake, FunctionARN: "decide"}.Decide(context.Background(), opening)
	require.NoError(t, err)
	assert.Equal(t, membercard.ConfirmSuccess, d.State)

	env := map[string]string{"AWS_REGION": "ap-east-1", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
		"MEMBER_CONFIRM_FUNCTION": strings.Repeat("f", 170)}
	_, err = lambdadecider.FromEnv(func(k string) string { return env[k] })
	require.NoError(t, err)
	env["MEMBER_CONFIRM_FUNCTION"] += "f"
	_, err = lambdadecider.FromEnv(func(k string) string { return env[k] })
	require.ErrorContains(t, err, "MEMBER_CONFIRM_FUNCTION")
}
