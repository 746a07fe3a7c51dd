package member

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

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

// DecisionTimeout is how long a decision function may take: a decision
// is a lookup, and the member's lease and the consumer's batch wait for
// it. A slower one confirms nothing and is retried.
const DecisionTimeout = 10 * time.Second

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
