// Command decider is the end-to-end tests' decision function: DECIDE says
// how it answers every opening (confirm, refuse, crash, invalid).
package main

import (
	"context"
	"errors"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

func decide(_ context.Context, o map[string]any) (map[string]any, error) {
	switch os.Getenv("DECIDE") {
	case "refuse":
		return map[string]any{"state": "CREATE_CARD_FAIL", "fail_reason": "不在会员名单"}, nil
	case "crash":
		return nil, errors.New("the brand's member service is down")
	case "invalid":
		// points is no field of a decision: refused, and named in the log.
		return map[string]any{"state": "CREATE_CARD_SUCCESS", "level": "金卡", "points": 100}, nil
	}
	if o["openid"] == nil {
		return nil, errors.New("no openid in the opening")
	}
	return map[string]any{"state": "CREATE_CARD_SUCCESS", "level": "金卡"}, nil
}

func main() { lambda.Start(decide) }
