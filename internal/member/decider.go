package member

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/wxcard/wxcard/pkg/membercard"
)

// Decision is what to confirm for an opening: WeChat Pay's confirm API's
// state and optional fields, and a reason kept for a refusal.
type Decision struct {
	State string `json:"state"` // membercard.ConfirmSuccess or membercard.ConfirmFail
	// FailReason says why a CREATE_CARD_FAIL; it goes into the item and the
	// "Member join refused" event, not to WeChat Pay, whose confirm APIs
	// define no such field (and refuse undefined ones).
	FailReason           string                           `json:"fail_reason,omitempty"`
	Level                string                           `json:"level,omitempty"`
	Attach               string                           `json:"attach,omitempty"`
	CardColor            string                           `json:"card_color,omitempty"`
	CardPictureURL       string                           `json:"card_picture_url,omitempty"`
	ValidDateInformation *membercard.ValidDateInformation `json:"valid_date_information,omitempty"`
}

// MaxFailReason bounds a refusal's reason, in characters (the length
// WeChat Pay gives the reason of its other confirm API).
const MaxFailReason = 128

// Validate checks the decision against WeChat Pay's field rules, as the
// confirm request of o carries it: the error names the field.
func (d *Decision) Validate(o Opening) error {
	req := d.request(o)
	if err := req.Validate(); err != nil {
		var fe *membercard.FieldError
		if errors.As(err, &fe) && fe.Field == "user_card_confirm_state" {
			return &membercard.FieldError{Field: "state", Reason: fe.Reason}
		}
		return err
	}
	if d.FailReason == "" {
		return nil
	}
	if d.State != membercard.ConfirmFail {
		return &membercard.FieldError{Field: "fail_reason", Reason: "is only for CREATE_CARD_FAIL"}
	}
	if !utf8.ValidString(d.FailReason) || utf8.RuneCountInString(d.FailReason) > MaxFailReason ||
		hasControl(d.FailReason) {
		return &membercard.FieldError{Field: "fail_reason", Reason: fmt.Sprintf("must be at most %d characters of text", MaxFailReason)}
	}
	return nil
}

// hasControl reports a control character, which no WeChat Pay text takes.
func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// request is the brand confirm API's body for o.
func (d *Decision) request(o Opening) *membercard.UserCardConfirmRequest {
	return &membercard.UserCardConfirmRequest{
		CardID: o.CardID, OpenID: o.OpenID, UserCardConfirmState: d.State,
		Level: d.Level, Attach: d.Attach, CardColor: d.CardColor, CardPictureURL: d.CardPictureURL,
		ValidDateInformation: d.ValidDateInformation,
	}
}

// A Decider decides whether an opening becomes a member, and with what.
// An error confirms nothing: the message is delivered again, and
// dead-lettered after the queue's redrive count.
type Decider interface {
	Decide(ctx context.Context, o Opening) (Decision, error)
}

// AlwaysConfirm confirms every opening (CREATE_CARD_SUCCESS) as it was
// opened: no field changed.
type AlwaysConfirm struct{}

// Decide answers CREATE_CARD_SUCCESS.
func (AlwaysConfirm) Decide(context.Context, Opening) (Decision, error) {
	return Decision{State: membercard.ConfirmSuccess}, nil
}

// LambdaAPI is the Lambda call LambdaDecider makes.
type LambdaAPI interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// LambdaDecider asks the brand's own function (MEMBER_CONFIRM_FUNCTION): a
// synchronous invoke with the Opening as JSON, whose answer is a Decision
// (exact keys, no null), checked against WeChat Pay's field rules.
type LambdaDecider struct {
	Client      LambdaAPI
	FunctionARN string
	// Timeout bounds the invoke; 0 means DecisionTimeout.
	Timeout time.Duration
}

// DecisionTimeout is how long a decision function may take: a decision
// is a lookup, and the member's lease and the consumer's batch wait for
// it. A slower one confirms nothing and is retried.
const DecisionTimeout = 10 * time.Second

// maxDecision bounds the decision function's answer.
const maxDecision = 16 << 10

// Decide invokes the function. Its error says what went wrong without the
// opening's data: the function's error type, or the answer's invalid field.
func (l LambdaDecider) Decide(ctx context.Context, o Opening) (Decision, error) {
	payload, err := json.Marshal(o)
	if err != nil {
		return Decision{}, fmt.Errorf("decision function: encoding the opening: %w", err)
	}
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = DecisionTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := l.Client.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(l.FunctionARN), InvocationType: types.InvocationTypeRequestResponse, Payload: payload,
	})
	if err != nil {
		return Decision{}, fmt.Errorf("decision function %s: invoking: %w", l.FunctionARN, err)
	}
	if out.FunctionError != nil {
		// The error document's message may quote the opening: only its type.
		var doc struct {
			ErrorType string `json:"errorType"`
		}
		_ = json.Unmarshal(out.Payload, &doc)
		return Decision{}, &DecisionError{Function: l.FunctionARN, Reason: fmt.Sprintf("failed (%s, %.40s)", aws.ToString(out.FunctionError), doc.ErrorType)}
	}
	if len(out.Payload) > maxDecision {
		return Decision{}, &DecisionError{Function: l.FunctionARN, Reason: fmt.Sprintf("answered more than %d bytes", maxDecision)}
	}
	var d Decision
	if err := membercard.Decode(out.Payload, &d); err != nil {
		return Decision{}, &DecisionError{Function: l.FunctionARN, Reason: "answered something that is not a decision", Err: err}
	}
	if err := d.Validate(o); err != nil {
		return Decision{}, &DecisionError{Function: l.FunctionARN, Reason: "answered an invalid decision", Err: err}
	}
	return d, nil
}

// DecisionError is a decision function that failed or answered something
// unusable; Err, when set, names the answer's invalid field.
type DecisionError struct {
	Function string
	Reason   string
	Err      error
}

func (e *DecisionError) Error() string {
	msg := "decision function " + e.Function + " " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *DecisionError) Unwrap() error { return e.Err }
