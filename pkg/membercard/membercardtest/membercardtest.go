// Package membercardtest is the WeChat Pay membership-card APIs on the
// wxpaytest stand-in, in the manner of net/http/httptest: the brand and
// partner pre-auth token APIs, permission tokens and product authorities;
// the brand and partner confirm APIs and user-card queries; and the user's
// side, a card opened or deleted (OpenCard, DeleteCard) with the signed
// and encrypted notification WeChat Pay would post (PostOpenCard,
// PostDeleteCard post it); the brand and partner user-card updates and
// user-points syncs, with WeChat Pay asking for a member's points
// (SyncUserPoint, PostSyncUserPoint); and the membercard-open user-card
// APIs, over cards a user takes with JUMP_ACTIVATE (IssueOpenCard) or
// AUTO_ACTIVATE (AutoActivate, PostAutoActivate post its notification).
// Requests are checked with the rules of package
// membercard as WeChat Pay checks them, over the card templates, brand
// authorities and user cards a test sets, so that a client and its tests
// hold to one set of rules. The faults wxpaytest injects apply to every
// API here.
//
// A new stand-in knows no card template and no brand, and answers as
// WeChat Pay answers for unknown ones: a test makes the templates it uses
// with [Cards.AddCard], and sets the authorities of every brand a service
// provider calls for with [Cards.SetAuthorities]. Until then the partner
// pre-auth token and product authorities of that brand are 400
// PARAM_ERROR 品牌ID错误，或未建立授权关系.
package membercardtest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// Server is a wxpaytest stand-in serving the card APIs of Cards.Routes.
type Server struct {
	*wxpaytest.Server
	*Cards
}

// NewServer starts a stand-in serving the card APIs. Close it when done.
//
// It starts empty, as Install leaves it: no card template, and no brand
// that has authorised a service provider. The brand pre-auth token needs
// the card (AddCard); the partner pre-auth token needs the card and the
// brand's authorities (SetAuthorities), without which it answers 400
// PARAM_ERROR 品牌ID错误，或未建立授权关系, as WeChat Pay does for a brand
// that has not authorised the service provider. That refusal is WeChat
// Pay's answer to a revoked authorisation too, which a client must handle,
// so the stand-in gives it by default rather than guess an authorisation.
//
// Cards users hold, WeChat Pay's rules for them:
//   - Brand and partner cards (OpenCard) are confirmed, read and updated
//     (level, attach) through the APIs of their flavour only, by their
//     card_id and openid (else 404 NOT_FOUND); the user-points sync sets
//     an EFFECTIVE card's points (else 400 INVALID_REQUEST), once per
//     out_request_no: the same request again is answered as the first,
//     another under the same out_request_no is 400 INVALID_REQUEST.
//   - A JUMP_ACTIVATE membercard-open card (IssueOpenCard) is NOT_ACTIVATE
//     until POST …/activate, which sets its membership number and spends
//     its activate_ticket. Its encrypt_code decrypts with its own card_id
//     only; the ticket reads the user's form for ActivateTicketLife,
//     unless spent. An AUTO_ACTIVATE card (AutoActivate) is EFFECTIVE at
//     once. Only an EFFECTIVE card's level, balance (from before_balance,
//     which must be the card's) and points (from before_bonus_value, if
//     given) are updated, once per out_request_no, as the sync is.
//
// The stand-in posts nothing itself: a test posts the notifications it
// builds (PostOpenCard, PostAutoActivate, PostSyncUserPoint…); the
// activation API sends none.
func NewServer(opts wxpaytest.Options) *Server {
	srv := wxpaytest.NewServer(opts)
	return &Server{Server: srv, Cards: Install(srv)}
}

// Cards is the state behind the card APIs: which card templates exist,
// which brands have authorised the service provider, and the cards users
// opened, by code.
type Cards struct {
	srv          *wxpaytest.Server
	mu           sync.Mutex
	cards        map[string]bool
	authorities  map[string]membercard.ProductAuthorities
	userCards    map[string]*userCard
	openCards    map[string]*openCard      // membercard-open cards, by code
	encryptCodes map[string]string         // encrypt_code -> code
	tickets      map[string]string         // activate_ticket -> code, until spent
	applied      map[string]appliedRequest // caller, API and out_request_no -> what it did
}

// Install registers the card APIs on srv, which may serve other APIs too,
// and returns their state: no card template, no brand authorities and no
// user card yet, with the rules NewServer describes. Set them with
// AddCard and SetAuthorities before the pre-auth tokens can succeed, and
// give users cards with OpenCard, IssueOpenCard or AutoActivate.
func Install(srv *wxpaytest.Server) *Cards {
	c := &Cards{
		srv: srv, cards: map[string]bool{}, authorities: map[string]membercard.ProductAuthorities{}, userCards: map[string]*userCard{},
		openCards: map[string]*openCard{}, encryptCodes: map[string]string{}, tickets: map[string]string{}, applied: map[string]appliedRequest{},
	}
	for _, rt := range c.Routes() {
		srv.Handle(rt)
	}
	return c
}

// AddCard makes a membership card template exist.
func (c *Cards) AddCard(cardID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cards[cardID] = true
}

// SetAuthorities records that a brand has authorised the service
// provider: product-authorities answers a for a.BrandID, and the partner
// pre-auth token accepts the brand. A brand without authorities is
// unknown to both (400 PARAM_ERROR 品牌ID错误，或未建立授权关系, as WeChat Pay
// answers for a brand with no authorisation). Brand APIs, signed by the
// brand itself, need none.
func (c *Cards) SetAuthorities(a membercard.ProductAuthorities) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.authorities[a.BrandID] = a
}

func (c *Cards) cardExists(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cards[id]
}

func (c *Cards) brandAuthorities(id string) (membercard.ProductAuthorities, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.authorities[id]
	return a, ok
}

// Routes are the card APIs with WeChat Pay's rate limits: 5/s per brand on
// the brand pre-auth, confirm and user-card APIs (query and update); 10/s
// per brand on the brand user-points sync; 5/s per merchant on the
// partner pre-auth, confirm, user-card and user-points sync APIs; 10/s
// per merchant on product authorities and permission tokens; and 5/s per
// merchant on each membercard-open user-card API (WeChat Pay documents no
// limit there; 5 is ours).
func (c *Cards) Routes() []wxpaytest.Route {
	return []wxpaytest.Route{
		{Method: http.MethodPost, Pattern: membercard.BrandPreAuthTokensPath, Scheme: wxsign.Brand, Limit: 5, Handler: c.brandPreAuth},
		{Method: http.MethodPost, Pattern: membercard.PartnerPreAuthTokensPath, Scheme: wxsign.Merchant, Limit: 5, Handler: c.partnerPreAuth},
		{Method: http.MethodPost, Pattern: membercard.PermissionTokensRoute, Scheme: wxsign.Merchant, Limit: 10, Handler: c.permissionTokens},
		{Method: http.MethodGet, Pattern: membercard.ProductAuthoritiesRoute, Scheme: wxsign.Merchant, Limit: 10, Handler: c.productAuthorities},
		{Method: http.MethodPost, Pattern: membercard.UserCardConfirmRoute, Scheme: wxsign.Brand, Limit: 5, Handler: c.brandConfirm},
		// The partner confirm page marks Wechatpay-Serial required.
		{Method: http.MethodPost, Pattern: membercard.PartnerUserCardConfirmRoute, Scheme: wxsign.Merchant, Limit: 5, RequireSerial: true, Handler: c.partnerConfirm},
		{Method: http.MethodGet, Pattern: membercard.UserCardRoute, Scheme: wxsign.Brand, Limit: 5, Handler: c.brandUserCard},
		{Method: http.MethodGet, Pattern: membercard.PartnerUserCardRoute, Scheme: wxsign.Merchant, Limit: 5, Handler: c.partnerUserCard},
		{Method: http.MethodPatch, Pattern: membercard.UserCardRoute, Scheme: wxsign.Brand, Limit: 5, Handler: c.brandUpdateUserCard},
		{Method: http.MethodPatch, Pattern: membercard.PartnerUserCardRoute, Scheme: wxsign.Merchant, Limit: 5, Handler: c.partnerUpdateUserCard},
		{Method: http.MethodPost, Pattern: membercard.UserPointsSyncPath, Scheme: wxsign.Brand, Limit: 10, Handler: c.brandSyncPoints},
		{Method: http.MethodPost, Pattern: membercard.PartnerUserPointsSyncPath, Scheme: wxsign.Merchant, Limit: 5, Handler: c.partnerSyncPoints},
		{Method: http.MethodGet, Pattern: membercard.DecryptCodeRoute, Scheme: wxsign.Merchant, Limit: 5, Handler: c.decryptCode},
		{Method: http.MethodGet, Pattern: membercard.OpenUserCardRoute, Scheme: wxsign.Merchant, Limit: 5, Handler: c.getOpenCard},
		{Method: http.MethodPatch, Pattern: membercard.OpenUserCardRoute, Scheme: wxsign.Merchant, Limit: 5, Handler: c.updateOpenCard},
		{Method: http.MethodGet, Pattern: membercard.ActivateInformationRoute, Scheme: wxsign.Merchant, Limit: 5, Handler: c.activateInformation},
		{Method: http.MethodPost, Pattern: membercard.ActivateRoute, Scheme: wxsign.Merchant, Limit: 5, Handler: c.activate},
		{Method: http.MethodPatch, Pattern: membercard.RightsRoute, Scheme: wxsign.Merchant, Limit: 5, Handler: c.updateRights},
	}
}

// paramError is WeChat Pay's 400 PARAM_ERROR for a body or parameter
// that breaks a rule, with its own message for a key the API does not
// define (270924358).
func paramError(err error) wxpaytest.Reply {
	if errors.Is(err, membercard.ErrUnknownField) {
		return wxpaytest.Error(http.StatusBadRequest, "PARAM_ERROR", "请求中含有未在API文档中定义的参数: "+err.Error())
	}
	return wxpaytest.Error(http.StatusBadRequest, "PARAM_ERROR", "参数错误: "+err.Error())
}

// decode applies WeChat Pay's body rules, then the API's field rules.
func decode(body []byte, v interface{ Validate() error }) error {
	if err := membercard.Decode(body, v); err != nil {
		return err
	}
	return v.Validate()
}

func (c *Cards) preAuthToken() wxpaytest.Reply {
	tok, _ := wxsign.NewNonce()
	cst := time.FixedZone("CST", 8*3600)
	return wxpaytest.OK(membercard.PreAuthToken{Token: tok, ExpireTime: c.srv.Now().Add(time.Hour).In(cst).Format(time.RFC3339)})
}

func (c *Cards) brandPreAuth(call *wxpaytest.Call) wxpaytest.Reply {
	var req membercard.BrandPreAuthTokenRequest
	if err := decode(call.Body, &req); err != nil {
		return paramError(err)
	}
	if !c.cardExists(req.CardID) {
		return wxpaytest.Error(http.StatusBadRequest, "PARAM_ERROR", "会员卡模板ID无效")
	}
	return c.preAuthToken()
}

func (c *Cards) partnerPreAuth(call *wxpaytest.Call) wxpaytest.Reply {
	var req membercard.PartnerPreAuthTokenRequest
	if err := decode(call.Body, &req); err != nil {
		return paramError(err)
	}
	if _, known := c.brandAuthorities(req.BrandID); !known {
		return wxpaytest.Error(http.StatusBadRequest, "PARAM_ERROR", "品牌ID错误，或未建立授权关系")
	}
	if !c.cardExists(req.CardID) {
		return wxpaytest.Error(http.StatusBadRequest, "PARAM_ERROR", "会员卡模板ID无效")
	}
	return c.preAuthToken()
}

func (c *Cards) permissionTokens(call *wxpaytest.Call) wxpaytest.Reply {
	cardID := call.PathValue("card_id")
	if err := membercard.CheckID("card_id", cardID, 32); err != nil {
		return paramError(err)
	}
	var req membercard.PermissionTokenRequest
	if err := decode(call.Body, &req); err != nil {
		return paramError(err)
	}
	if !c.cardExists(cardID) {
		return wxpaytest.Error(http.StatusBadRequest, "INVALID_REQUEST", "会员卡ID无效")
	}
	var b [48]byte
	_, _ = rand.Read(b[:])
	return wxpaytest.OK(membercard.PermissionToken{PermissionToken: "Eh" + hex.EncodeToString(b[:])})
}

func (c *Cards) productAuthorities(call *wxpaytest.Call) wxpaytest.Reply {
	if len(call.Body) != 0 {
		return wxpaytest.Error(http.StatusBadRequest, "INVALID_REQUEST", "GET 请求不应有包体")
	}
	brandID := call.PathValue("brand_id")
	if err := membercard.CheckID("brand_id", brandID, 32); err != nil {
		return paramError(err)
	}
	a, found := c.brandAuthorities(brandID)
	if !found {
		return wxpaytest.Error(http.StatusBadRequest, "PARAM_ERROR", "品牌ID错误，或未建立授权关系")
	}
	return wxpaytest.OK(a)
}
