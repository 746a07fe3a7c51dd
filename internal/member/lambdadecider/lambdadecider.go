// Package lambdadecider is member.Decider through the brand's own Lambda
// function (MEMBER_CONFIRM_FUNCTION), apart from package member so that
// only the function that decides links the Lambda client.
package lambdadecider

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/wxcard/wxcard/internal/awsenv"
	"github.com/wxcard/wxcard/internal/member"
	"github.com/wxcard/wxcard/pkg/membercard"
)

// API is the Lambda call a Decider makes.
type API interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// Decider asks the brand's own function (MEMBER_CONFIRM_FUNCTION): a
// synchronous invoke with the member.Opening as JSON, whose answer is a
// member.Decision (exact keys, no null), checked against WeChat Pay's
// field rules.
type Decider struct {
	Client      API
	FunctionARN string
	// Timeout bounds the invoke; 0 means member.DecisionTimeout.
	Timeout time.Duration
}

// maxDecision bounds the decision function's answer.
const maxDecision = 16 << 10

// Decide invokes the function. Its error says what went wrong without the
// opening's data: the function's error type, or the answer's invalid field.
func (l Decider) Decide(ctx context.Context, o member.Opening) (member.Decision, error) {
	payload, err := json.Marshal(o)
	if err != nil {
		return member.Decision{}, fmt.Errorf("decision function: encoding the opening: %w", err)
	}
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = member.DecisionTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := l.Client.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(l.FunctionARN), InvocationType: types.InvocationTypeRequestResponse, Payload: payload,
	})
	if err != nil {
		return member.Decision{}, fmt.Errorf("decision function %s: invoking: %w", l.FunctionARN, err)
	}
	if out.FunctionError != nil {
		// The error document's message may quote the opening: only its type.
		var doc struct {
			ErrorType string `json:"errorType"`
		}
		_ = json.Unmarshal(out.Payload, &doc)
		return member.Decision{}, &member.DecisionError{Function: l.FunctionARN, Reason: fmt.Sprintf("failed (%s, %.40s)", aws.ToString(out.FunctionError), doc.ErrorType)}
	}
	if len(out.Payload) > maxDecision {
		return member.Decision{}, &member.DecisionError{Function: l.FunctionARN, Reason: fmt.Sprintf("answered more than %d bytes", maxDecision)}
	}
	var d member.Decision
	if err := membercard.Decode(out.Payload, &d); err != nil {
		return member.Decision{}, &member.DecisionError{Function: l.FunctionARN, Reason: "answered something that is not a decision", Err: err}
	}
	if err := d.Validate(o); err != nil {
		return member.Decision{}, &member.DecisionError{Function: l.FunctionARN, Reason: "answered an invalid decision", Err: err}
	}
	return d, nil
}

// FromEnv is the members function's member.Decider: member.AlwaysConfirm, or
// with MEMBER_CONFIRM_FUNCTION (a Lambda function's ARN or name) a
// Decider through a Lambda client of the AWS region and credentials
// (AWS_ENDPOINT_URL_LAMBDA for a local endpoint).
func FromEnv(getenv func(string) string) (member.Decider, error) {
	fn := strings.TrimSpace(getenv("MEMBER_CONFIRM_FUNCTION"))
	if fn == "" {
		return member.AlwaysConfirm{}, nil
	}
	if len(fn) > 170 || strings.ContainsAny(fn, " \t\n\"'") {
		return nil, fmt.Errorf("MEMBER_CONFIRM_FUNCTION is %.40q…: want a Lambda function's ARN or name", fn)
	}
	env, err := awsenv.FromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("AWS environment: %w", err)
	}
	c := lambda.New(lambda.Options{Region: env.Region, Credentials: env.Credentials, BaseEndpoint: env.Endpoint("LAMBDA")})
	return Decider{Client: c, FunctionARN: fn}, nil
}
