// Package kmssigntest is an in-process stand-in for the two KMS calls
// kmssign uses (Sign, GetPublicKey), backed by in-memory RSA keys: for
// tests and the local sandbox, and for the DIGEST path that moto_server
// 5.2.1 signs wrongly. It signs as AWS does: DIGEST signs the given
// SHA-256 digest, RAW signs SHA-256 of the message.
package kmssigntest

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// Key is one key of the stand-in. New keys from AddKey are RSA_2048,
// SIGN_VERIFY, offering both RSASSA_PKCS1_V1_5 algorithms KMS offers for
// RS256 and PS256; AddKeyWith sets any of it, for refusals.
type Key struct {
	Private    *rsa.PrivateKey
	Spec       types.KeySpec
	Usage      types.KeyUsageType
	Algorithms []types.SigningAlgorithmSpec
}

// Call is one call the stand-in received.
type Call struct {
	Op          string // "Sign" or "GetPublicKey"
	KeyID       string
	MessageType types.MessageType
	Message     []byte    // what Sign was given to sign
	Deadline    time.Time // the call's context deadline; zero without one
}

// KMS is the stand-in. Its zero value is not usable; call New.
type KMS struct {
	// Latency is slept before every answer (or until the call's context
	// ends): an emulated round trip. Set it before use.
	Latency time.Duration

	mu       sync.Mutex
	keys     map[string]Key
	failNext error
	calls    []Call
}

// New is a stand-in without keys.
func New() *KMS { return &KMS{keys: map[string]Key{}} }

// AddKey adds an RSA_2048 SIGN_VERIFY key under keyID.
func (k *KMS) AddKey(keyID string, priv *rsa.PrivateKey) {
	k.AddKeyWith(keyID, Key{
		Private: priv, Spec: types.KeySpecRsa2048, Usage: types.KeyUsageTypeSignVerify,
		Algorithms: []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecRsassaPssSha256, types.SigningAlgorithmSpecRsassaPkcs1V15Sha256},
	})
}

// AddKeyWith adds key under keyID as given.
func (k *KMS) AddKeyWith(keyID string, key Key) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[keyID] = key
}

// FailNext makes the next call answer err.
func (k *KMS) FailNext(err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.failNext = err
}

// Calls is every call received, in order.
func (k *KMS) Calls() []Call {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]Call(nil), k.calls...)
}

// begin records the call, waits Latency, and gives the key or the error
// to answer.
func (k *KMS) begin(ctx context.Context, c Call) (Key, error) {
	c.Deadline, _ = ctx.Deadline()
	k.mu.Lock()
	k.calls = append(k.calls, c)
	fail := k.failNext
	k.failNext = nil
	key, ok := k.keys[c.KeyID]
	k.mu.Unlock()
	if k.Latency > 0 {
		t := time.NewTimer(k.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return Key{}, ctx.Err()
		}
	}
	if fail != nil {
		return Key{}, fail
	}
	if !ok {
		return Key{}, &types.NotFoundException{Message: aws.String(fmt.Sprintf("Key '%s' does not exist", c.KeyID))}
	}
	return key, nil
}

// GetPublicKey answers the key's public key (DER SubjectPublicKeyInfo),
// spec, usage and algorithms, and the key ID as given.
func (k *KMS) GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, _ ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error) {
	id := aws.ToString(in.KeyId)
	key, err := k.begin(ctx, Call{Op: "GetPublicKey", KeyID: id})
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(key.Private.Public())
	if err != nil {
		return nil, err
	}
	return &kms.GetPublicKeyOutput{
		KeyId: &id, PublicKey: der, KeySpec: key.Spec, KeyUsage: key.Usage, SigningAlgorithms: key.Algorithms,
	}, nil
}

// Sign signs with RSASSA_PKCS1_V1_5_SHA_256 (the only algorithm the
// stand-in signs with): a 32-byte digest for DIGEST, SHA-256 of a message
// of at most 4,096 bytes for RAW.
func (k *KMS) Sign(ctx context.Context, in *kms.SignInput, _ ...func(*kms.Options)) (*kms.SignOutput, error) {
	id := aws.ToString(in.KeyId)
	key, err := k.begin(ctx, Call{Op: "Sign", KeyID: id, MessageType: in.MessageType, Message: append([]byte(nil), in.Message...)})
	if err != nil {
		return nil, err
	}
	if in.SigningAlgorithm != types.SigningAlgorithmSpecRsassaPkcs1V15Sha256 {
		return nil, &types.InvalidKeyUsageException{Message: aws.String(fmt.Sprintf("signing algorithm %q is not supported by the stand-in", in.SigningAlgorithm))}
	}
	if key.Usage != types.KeyUsageTypeSignVerify {
		return nil, &types.InvalidKeyUsageException{Message: aws.String(fmt.Sprintf("key %s has usage %s", id, key.Usage))}
	}
	var digest []byte
	switch in.MessageType {
	case types.MessageTypeDigest:
		if len(in.Message) != sha256.Size {
			return nil, validation("Digest is invalid length for algorithm RSASSA_PKCS1_V1_5_SHA_256.")
		}
		digest = in.Message
	case types.MessageTypeRaw, "":
		if len(in.Message) == 0 || len(in.Message) > 4096 {
			return nil, validation("message must be 1 to 4096 bytes")
		}
		d := sha256.Sum256(in.Message)
		digest = d[:]
	default:
		return nil, validation(fmt.Sprintf("unknown MessageType %q", in.MessageType))
	}
	sig, err := rsa.SignPKCS1v15(nil, key.Private, crypto.SHA256, digest)
	if err != nil {
		return nil, err
	}
	return &kms.SignOutput{KeyId: &id, Signature: sig, SigningAlgorithm: in.SigningAlgorithm}, nil
}

// validation is KMS's ValidationException, which the SDK models only as a
// generic API error; an InvalidKeyUsageException-shaped error is near enough.
func validation(msg string) error {
	return &types.InvalidKeyUsageException{ErrorCodeOverride: aws.String("ValidationException"), Message: &msg}
}
