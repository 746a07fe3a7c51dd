package localapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcard/wxcard/internal/apigw"
	"github.com/wxcard/wxcard/internal/authority"
	"github.com/wxcard/wxcard/internal/cardapi"
	"github.com/wxcard/wxcard/internal/eventbus"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/membercard/membercardtest"
)

// SandboxRevocableBrand is a sandbox brand whose authorisation the local
// API revokes and restores on demand (RevokePath, RestorePath), so that a
// refresh shows a revocation event.
const SandboxRevocableBrand = "1007"

// The local runner's own routes: not API Gateway's.
const (
	RefreshPath = "/local/authorities-refresh"
	RevokePath  = "/local/brands/{brand_id}/revoke"
	RestorePath = "/local/brands/{brand_id}/restore"
)

// sandboxAuthority is what the sandbox answers for an authorised brand.
func sandboxAuthority(brandID string) membercard.ProductAuthorities {
	return membercard.ProductAuthorities{BrandID: brandID, AuthorizationType: "AUTHORIZATION_TYPE_HOSTING",
		AuthorizationProduct: []string{"BRAND_PRODUCT_AUTHORITY_MERCHANT_CARD", "BRAND_PRODUCT_AUTHORITY_BRAND_STORE"}, UpdateTime: "2025-05-20T13:29:35+08:00"}
}

// authorityState is the in-memory state table and bus of the local API:
// the events it would publish are kept in events (printed when its Out is
// set).
func authorityState(events *eventbus.Memory) *authority.Tracker {
	return &authority.Tracker{Store: &authority.Memory{}, Bus: events}
}

// refreshRoute runs the scheduled refresh on demand, as the schedule would
// with {}: POST RefreshPath answers the summary (502 when a brand failed).
func refreshRoute(h *cardapi.AuthoritiesRefresh) Route {
	return Route{"POST " + RefreshPath, func(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		sum, err := h.Handle(ctx, cardapi.ScheduleEvent{})
		b, merr := json.Marshal(sum)
		if merr != nil {
			return events.APIGatewayV2HTTPResponse{}, merr
		}
		status := http.StatusOK
		if err != nil {
			status = http.StatusBadGateway
		}
		return apigw.JSON(status, b), nil
	}}
}

// sandboxAuthorityRoutes revoke (the sandbox then answers an empty product
// list) and restore a sandbox brand's authorisation.
func sandboxAuthorityRoutes(srv *membercardtest.Server, brands []string) []Route {
	set := func(revoke bool) HandlerFunc {
		return func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			id := ev.PathParameters["brand_id"]
			if !slices.Contains(brands, id) {
				return apigw.Forbidden("brand_id", "is not a sandbox brand").Respond(), nil
			}
			a := sandboxAuthority(id)
			if revoke {
				a.AuthorizationProduct = nil
			}
			srv.SetAuthorities(a)
			return apigw.JSON(http.StatusOK, []byte(fmt.Sprintf(`{"brand_id":%q,"authorised":%t}`, id, !revoke))), nil
		}
	}
	return []Route{{"POST " + RevokePath, set(true)}, {"POST " + RestorePath, set(false)}}
}

// AuthorityCurlLines show a revocation: refresh, revoke
// SandboxRevocableBrand, refresh again (a Brand authority revoked event is
// printed), restore it.
func AuthorityCurlLines(base string) []string {
	post := func(path string) string { return fmt.Sprintf("curl -s -X POST %s%s", base, path) }
	return []string{
		post(RefreshPath),
		post("/local/brands/" + SandboxRevocableBrand + "/revoke"),
		post(RefreshPath),
		post("/local/brands/" + SandboxRevocableBrand + "/restore"),
	}
}
