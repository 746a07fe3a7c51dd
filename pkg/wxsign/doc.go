// Package wxsign signs requests to WeChat Pay API v3 and verifies its answers
// and callback notifications.
//
// A request is signed over the string
//
//	METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n
//
// with RSASSA-PKCS1-v1_5 SHA-256, and the signature travels in the
// Authorization header of one of two schemes: [Merchant]
// (WECHATPAY2-SHA256-RSA2048, identified by mchid) for merchants and service
// providers, and [Brand] (WECHATPAY-BRAND-SHA256-RSA2048, identified by
// brand_id) for brands. A [Signer] builds that header.
//
// An answer is trusted only after a [Verifier] has checked its four
// Wechatpay-* headers and its signature over
//
//	TIMESTAMP\nNONCE\nBODY\n
//
// with a WeChat Pay public key from a [KeySet]. Failures are *[VerifyError]
// values that match one of the sentinel errors ([ErrMissingHeader],
// [ErrUnknownKey], [ErrStaleTimestamp], [ErrMalformedTimestamp],
// [ErrBadSignature]) with errors.Is.
//
// Nothing in this package writes key material, signatures of requests or
// Authorization headers into an error message.
package wxsign
