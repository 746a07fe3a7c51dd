package localapi

import (
	"fmt"
	"io"

	"github.com/wxcard/wxcard/internal/lambdaapp"
)

// PrintBanner writes what make run prints once it serves on base: where
// WeChat Pay is, and ready-to-paste curl lines that each succeed as
// printed, under the token-route authorization env sets.
func PrintBanner(w io.Writer, base string, stack *Stack, env lambdaapp.Env) {
	if stack.Sandbox != nil {
		fmt.Fprintf(w, "wxcard local API on %s, against the embedded WeChat Pay sandbox at %s\n", base, stack.Sandbox.URL)
	} else {
		fmt.Fprintf(w, "wxcard local API on %s, against %s with your secrets\n", base, env.BaseURL)
	}
	if stack.Login != nil {
		fmt.Fprintf(w, "Sign in as a mini-program does (wx.login's code from %s, then POST /session; the issuer is %s, its keys at %s):\n", LoginRoute, base, base+"/.well-known/jwks.json")
		for _, line := range SignInLines(base) {
			fmt.Fprintln(w, "  "+line)
		}
	}
	if env.TokenRoutesAuthorization == lambdaapp.TokenAuthJWT {
		fmt.Fprintln(w, "The token routes require a JWT (TOKEN_ROUTES_AUTHORIZATION=JWT): their lines carry the token signed in above as \"Authorization: Bearer $TOKEN\"; without a valid one they answer 401, with another user's openid 403.")
	}
	fmt.Fprintln(w, "Try:")
	for _, line := range CurlLines(base, env) {
		fmt.Fprintln(w, "  "+line)
	}
	if stack.Sandbox == nil {
		return
	}
	fmt.Fprintln(w, "The sandbox keeps WeChat Pay's rate limits (5 tokens a second per brand or merchant, 10 permission tokens and 10 authority lookups a second): beyond them the answer is 429 FREQUENCY_LIMITED, so a load test measures the limits, not wxcard.")
	fmt.Fprintln(w, "Events (what would go to the bus: product authorities, card events) print below as JSON lines. See a revocation:")
	for _, line := range AuthorityCurlLines(base) {
		fmt.Fprintln(w, "  "+line)
	}
	fmt.Fprintln(w, "Members: the sandbox user opens the sandbox card (a brand's, then a service provider's); WeChat Pay notifies, wxcard confirms, and the events print (then the first card is deleted):")
	for _, line := range CardCurlLines(base) {
		fmt.Fprintln(w, "  "+line)
	}
	fmt.Fprintln(w, "Member care: the sandbox user takes a JUMP_ACTIVATE card and activates it as the merchant's H5 page would (from its activate_url's query), lists their members, and the card's points change (synced to WeChat Pay through the member queue); then a card WeChat Pay activates itself (AUTO_ACTIVATE), and WeChat Pay asks a brand card's points (SYNC_USER_POINT):")
	for _, line := range MemberCurlLines(base, env) {
		fmt.Fprintln(w, "  "+line)
	}
}
