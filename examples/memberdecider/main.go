// Command memberdecider is an example of a brand's own decision function
// for wxcard's members (template parameter MemberConfirmFunctionArn):
// wxcard invokes it with each card opening and confirms what it answers.
// This one refuses the openids it is told to and makes everyone else a
// Silver member. Deploy it as a Lambda function (runtime provided.al2023,
// handler bootstrap) that answers within 10 seconds.
package main

import (
	"context"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
)

// Opening is what wxcard sends: the card opened and who opened it.
type Opening struct {
	BrandID      string `json:"brand_id"`
	CardID       string `json:"card_id"`
	UserCardCode string `json:"user_card_code"`
	OpenID       string `json:"openid"`
}

// Decision is what wxcard confirms with WeChat Pay.
type Decision struct {
	State      string `json:"state"` // CREATE_CARD_SUCCESS or CREATE_CARD_FAIL
	FailReason string `json:"fail_reason,omitempty"`
	Level      string `json:"level,omitempty"`
}

func decide(_ context.Context, o Opening) (Decision, error) {
	if strings.Contains(","+os.Getenv("REFUSED_OPENIDS")+",", ","+o.OpenID+",") {
		return Decision{State: "CREATE_CARD_FAIL", FailReason: "not on the guest list"}, nil
	}
	return Decision{State: "CREATE_CARD_SUCCESS", Level: "Silver"}, nil
}

func main() { lambda.Start(decide) }
