package session

import (
	"crypto/sha256"
	"encoding/hex"
)

// HashOpenID is how an openid appears in logs, as the token routes log it
// (cardapi.HashOpenID): the first 16 hex digits of its SHA-256, enough to
// correlate lines, not to recover the openid.
func HashOpenID(openid string) string {
	sum := sha256.Sum256([]byte("wxcard-openid:" + openid))
	return hex.EncodeToString(sum[:8])
}

// TokenPrefix is how a token appears in logs: its first 4 characters.
func TokenPrefix(tok string) string {
	if len(tok) <= 4 {
		return "…"
	}
	return tok[:4] + "…"
}
