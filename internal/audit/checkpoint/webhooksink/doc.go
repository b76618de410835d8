// Package webhooksink posts audit checkpoints to an HTTP endpoint: the
// checkpoint's signed JSON as the body, and an HMAC-SHA256 of the body
// under a shared secret in the X-Moat-Signature header ("sha256=" and hex),
// so the receiver knows the post came from this registry. The Ed25519
// signature inside the body is what proves the checkpoint itself.
//
// Limits: one attempt per checkpoint (the next checkpoint covers a missed
// one); no redirects are followed.
package webhooksink
