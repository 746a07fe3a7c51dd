package kmssign_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/stretchr/testify/require"
	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/kmssign"
	"github.com/wxcard/wxcard/internal/kmssign/kmssigntest"
)

// jwsInput is the size of a session token's signing input (design.md's
// claims, base64url): what SignMessage signs per sign-in.
var jwsInput = make([]byte, 420)

// BenchmarkSign is what a KMS round trip adds to a token's signature:
// "local" signs in process with the same key (the floor), "verify" is the
// check every KMS signature gets, "standin-10ms" is KMS emulated 10 ms
// away, "moto" the real SDK client over loopback HTTP to moto_server
// (skipped where absent).
func BenchmarkSign(b *testing.B) {
	a, _, _ := keys(b)
	ctx := context.Background()
	d := sha256.Sum256(jwsInput)
	sig, err := rsa.SignPKCS1v15(nil, a, crypto.SHA256, d[:])
	require.NoError(b, err)

	b.Run("local", func(b *testing.B) {
		for b.Loop() {
			d := sha256.Sum256(jwsInput)
			if _, err := rsa.SignPKCS1v15(nil, a, crypto.SHA256, d[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			d := sha256.Sum256(jwsInput)
			if err := rsa.VerifyPKCS1v15(&a.PublicKey, crypto.SHA256, d[:], sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, latency := range []time.Duration{0, 10 * time.Millisecond} {
		b.Run("standin-"+latency.String(), func(b *testing.B) {
			k := kmssigntest.New()
			k.AddKey(keyID, a)
			s, err := kmssign.New(ctx, k, keyID)
			require.NoError(b, err)
			k.Latency = latency
			for b.Loop() {
				if _, err := s.SignMessage(ctx, jwsInput); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The nested Run starts moto_server once: a benchmark with
	// sub-benchmarks runs once, its leaves as often as b.N needs.
	b.Run("moto", func(b *testing.B) {
		c := motoKMS(b, awstest.StartMoto(b))
		s, err := kmssign.New(ctx, c, createKey(b, c, types.KeySpecRsa2048, types.KeyUsageTypeSignVerify))
		require.NoError(b, err)
		b.Run("SignMessage", func(b *testing.B) {
			for b.Loop() {
				if _, err := s.SignMessage(ctx, jwsInput); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
