package e2e

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/notaryproject/notation-go"
	notationregistry "github.com/notaryproject/notation-go/registry"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
	"github.com/moat-dev/moat/internal/testutil/pgtest"
)

// signatures is what GET .../signatures answers.
type signatures struct {
	Digest, Status, Reason, KeyID, TrustPolicy, Error string
	Trusted                                           bool
	Signatures                                        []struct {
		Format, Manifest, KeyID, Signer, Error string
		Managed, Verified                      bool
	}
}

func signaturesOf(t *testing.T, s *moatproc.Server, repo, ref string) signatures {
	t.Helper()
	var out signatures
	s.API(t, "GET", fmt.Sprintf("/api/v1/repositories/%s/manifests/%s/signatures", repo, ref), nil, &out)
	return out
}

// waitSigned waits for managed signing of repo:ref to complete.
func waitSigned(t *testing.T, s *moatproc.Server, repo, ref string, within time.Duration) signatures {
	t.Helper()
	var sig signatures
	took := waitFor(t, "signing of "+repo+":"+ref, within, func() (bool, string) {
		sig = signaturesOf(t, s, repo, ref)
		return sig.Status == "COMPLETE", sig.Status + " " + sig.Reason
	})
	t.Logf("%s:%s signed %s after the push", repo, ref, took.Round(time.Millisecond))
	return sig
}

const signingConfig = `version: 1
signing:
  rules:
    - repositories: ["prod/*"]
  requireSignature:
    - repositories: ["gated/*"]
      trustPolicy: gate
`

// TestSigning is managed signing end to end: a push under a rule is
// signed within seconds in both formats; cosign and notation-go verify
// the signatures with what moat signing export prints; oras discover
// lists them; a signature gate refuses unsigned images and images signed
// by an untrusted key, and serves one cosign signed with a trusted key;
// after a key rotation what the old key signed still verifies.
func TestSigning(t *testing.T) {
	skopeo := moatproc.RequireTool(t, "skopeo")
	cosign := moatproc.RequireTool(t, "cosign")
	oras := moatproc.RequireTool(t, "oras")
	crane := moatproc.RequireTool(t, "crane")
	moatproc.OnEachDatabase(t, func(t *testing.T, db moatproc.Option) {
		cfgFile := filepath.Join(t.TempDir(), "moat.yaml")
		writeFile(t, cfgFile, signingConfig)
		s := moatproc.Start(t, db, moatproc.WithArgs("--config", cfgFile))
		bin := moatproc.Binary(t)
		moat := func(args ...string) string {
			t.Helper()
			return moatproc.NewRunner(t).Run(bin, append(args, s.StoreArgs()...)...)
		}
		work := t.TempDir()
		client := craneLogin(t, crane, s) // a docker config cosign reads too
		client.Dir = work
		rnd := seededRand(t, "signing")
		push := func(ref string) string {
			t.Helper()
			img := newImage(t, rnd, linuxAMD64, 2, 32*1024)
			layout := filepath.Join(t.TempDir(), "image")
			writeLayout(t, layout, "v1", img)
			client.Run(skopeo, "copy", "--dest-tls-verify=false", "--dest-creds="+s.Robot.Pair(), "oci:"+layout+":v1", "docker://"+s.Addr+"/"+ref)
			return img.Root.Digest.String()
		}
		cosignFlags := []string{"--allow-insecure-registry", "--allow-http-registry"}

		// Signed on push, in both formats.
		push("prod/app:1")
		sig := waitSigned(t, s, "prod/app", "1", 10*time.Second)
		if !sig.Trusted || len(sig.Signatures) != 2 {
			t.Fatalf("signatures of prod/app:1: %+v", sig)
		}
		oldKey := sig.KeyID
		pub := filepath.Join(work, "moat.pub")
		writeFile(t, pub, moat("signing", "export", "--format", "pem"))
		client.Run(cosign, append([]string{"verify", "--key", pub, "--insecure-ignore-tlog"}, append(cosignFlags, s.Addr+"/prod/app:1")...)...)
		verifyNotation(t, s, "prod/app", "1", moat("signing", "export", "--format", "x509"))
		found := client.Run(oras, "discover", "--plain-http", "-u", s.Robot.Username, "-p", s.Robot.Password, s.Addr+"/prod/app:1")
		for _, at := range []string{"application/vnd.cncf.notary.signature", "application/vnd.dev.cosign.artifact.sig.v1+json"} {
			if !strings.Contains(found, at) {
				t.Errorf("oras discover does not list %s:\n%s", at, found)
			}
		}

		// The gate's trust policy trusts the registry's keys and one key
		// of the client's; another key signs too.
		client.Env = append(client.Env, "COSIGN_PASSWORD=")
		for _, name := range []string{"trusted", "stranger"} {
			client.Run(cosign, "generate-key-pair", "--output-key-prefix", name)
		}
		moat("trust", "store", "add", "--type", "cosign", "ci", filepath.Join(work, "trusted.pub"))
		policyFile := filepath.Join(work, "trustpolicy.json")
		writeFile(t, policyFile, `{"version":"1.0","trustPolicies":[{"name":"gated","registryScopes":["*"],
			"signatureVerification":{"level":"strict"},"trustStores":["cosign:ci","ca:moat","cosign:moat"],"trustedIdentities":["*"]}]}`)
		moat("trust", "policy", "put", "gate", "--file", policyFile)

		// The gate: unsigned images are refused to pullers, here a robot
		// that may only pull. The tester robot may push, so it may read
		// the unsigned image, as cosign sign must.
		puller := pullOnlyRobot(t, s, moat, "gated/*")
		gated := push("gated/app:1")
		pull := func(ref string) error {
			_, err := client.Try(skopeo, "copy", "--src-tls-verify=false", "--src-creds="+puller,
				"docker://"+s.Addr+"/"+ref, "oci:"+filepath.Join(t.TempDir(), "pulled")+":x")
			return err
		}
		if err := pull("gated/app:1"); err == nil || !strings.Contains(err.Error(), "not signed by a trusted identity") {
			t.Fatalf("pull of an unsigned image under the gate: %v", err)
		}
		// A key the trust policy trusts signs it from the client side.
		client.Run(cosign, append([]string{"sign", "--key", filepath.Join(work, "trusted.key"), "--tlog-upload=false", "-y"},
			append(cosignFlags, s.Addr+"/gated/app@"+gated)...)...)
		waitFor(t, "a pull of the image signed with a trusted key", 10*time.Second, func() (bool, string) {
			err := pull("gated/app:1")
			return err == nil, fmt.Sprint(err)
		})
		// Signed with a key nobody trusts: still refused.
		other := push("gated/other:1")
		client.Run(cosign, append([]string{"sign", "--key", filepath.Join(work, "stranger.key"), "--tlog-upload=false", "-y"},
			append(cosignFlags, s.Addr+"/gated/other@"+other)...)...)
		time.Sleep(1500 * time.Millisecond) // past the trust version check
		if err := pull("gated/other:1"); err == nil || !strings.Contains(err.Error(), "not signed by a trusted identity") {
			t.Fatalf("pull of an image signed with an untrusted key: %v", err)
		}
		if sig := signaturesOf(t, s, "gated/other", "1"); sig.Trusted || len(sig.Signatures) != 1 || sig.Signatures[0].Verified {
			t.Errorf("signatures of gated/other:1: %+v", sig)
		}
		// moat verify says the same, with an exit status per outcome.
		client.Run(bin, "verify", "--insecure", s.Addr+"/prod/app:1")
		client.Run(bin, "verify", "--insecure", s.Addr+"/gated/app:1")
		for ref, want := range map[string]string{
			"gated/other:1":                     "exit status 1",
			"prod/app:1 --trust-policy missing": "exit status 2",
		} {
			args := append([]string{"verify", "--insecure"}, strings.Fields(s.Addr+"/"+ref)...)
			if _, err := client.Try(bin, args...); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("moat verify %s: %v, want %s", ref, err, want)
			}
		}

		// Rotation: new images get the new key; the old one still verifies
		// what it signed.
		newKey := strings.TrimSpace(moat("signing", "rotate"))
		push("prod/app:2")
		if sig := waitSigned(t, s, "prod/app", "2", 10*time.Second); sig.KeyID != newKey || sig.KeyID == oldKey {
			t.Fatalf("after rotation prod/app:2 is signed with %s, want %s", sig.KeyID, newKey)
		}
		newPub := filepath.Join(work, "new.pub")
		writeFile(t, newPub, moat("signing", "export", "--format", "pem"))
		client.Run(cosign, append([]string{"verify", "--key", newPub, "--insecure-ignore-tlog"}, append(cosignFlags, s.Addr+"/prod/app:2")...)...)
		client.Run(cosign, append([]string{"verify", "--key", pub, "--insecure-ignore-tlog"}, append(cosignFlags, s.Addr+"/prod/app:1")...)...)
		if _, err := client.Try(cosign, append([]string{"verify", "--key", pub, "--insecure-ignore-tlog"}, append(cosignFlags, s.Addr+"/prod/app:2")...)...); err == nil {
			t.Error("the retired key verifies an image signed after the rotation")
		}
		verifyNotation(t, s, "prod/app", "1", moat("signing", "export", "--format", "x509"))
		verifyNotation(t, s, "prod/app", "2", moat("signing", "export", "--format", "x509"))
		if sig := signaturesOf(t, s, "prod/app", "1"); !sig.Trusted {
			t.Errorf("prod/app:1 after the rotation: %+v", sig)
		}
	})
}

// verifyNotation verifies repo:ref's Notation signature with notation-go,
// the CA certificates caPEM in a trust store, as a Notation user would.
func verifyNotation(t *testing.T, s *moatproc.Server, repo, ref, caPEM string) {
	t.Helper()
	ctx := context.Background()
	var cas []*x509.Certificate
	for rest := []byte(caPEM); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		cas = append(cas, c)
	}
	r, err := remote.NewRepository(s.Addr + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	r.Client = &auth.Client{Credential: auth.StaticCredential(s.Addr, auth.Credential{Username: s.Robot.Username, Password: s.Robot.Password})}
	doc := &trustpolicy.Document{Version: "1.0", TrustPolicies: []trustpolicy.TrustPolicy{{
		Name: "moat", RegistryScopes: []string{s.Addr + "/" + repo}, SignatureVerification: trustpolicy.SignatureVerification{VerificationLevel: "strict"},
		TrustStores: []string{"ca:moat"}, TrustedIdentities: []string{"*"}}}}
	v, err := verifier.New(doc, caStore(cas), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Notation verifies a reference by digest.
	d := signaturesOf(t, s, repo, ref).Digest
	_, outcomes, err := notation.Verify(ctx, v, notationregistry.NewRepository(r), notation.VerifyOptions{
		ArtifactReference: s.Addr + "/" + repo + "@" + d, MaxSignatureAttempts: 10})
	if err != nil {
		t.Fatalf("notation-go verify of %s:%s: %v", repo, ref, err)
	}
	if len(outcomes) == 0 {
		t.Fatalf("notation-go verified no signature of %s:%s", repo, ref)
	}
}

// caStore is a Notation trust store holding cas as ca:moat.
type caStore []*x509.Certificate

func (c caStore) GetCertificates(_ context.Context, typ truststore.Type, name string) ([]*x509.Certificate, error) {
	if typ != truststore.TypeCA || name != "moat" {
		return nil, fmt.Errorf("no trust store %s:%s", typ, name)
	}
	return c, nil
}

// TestSigningReplicas: two moat serve processes on one PostgreSQL (and one
// blob directory and master key) sign with the same key, whichever gets
// the push, and never sign an image twice.
func TestSigningReplicas(t *testing.T) {
	skopeo := moatproc.RequireTool(t, "skopeo")
	pg := pgtest.NewDatabase(t)
	key := make([]byte, 32)
	rand.Read(key)
	cfgFile := filepath.Join(t.TempDir(), "moat.yaml")
	writeFile(t, cfgFile, signingConfig+"storage:\n  root: "+t.TempDir()+"\n")
	opts := []moatproc.Option{moatproc.WithDatabase(pg), moatproc.WithArgs("--config", cfgFile),
		moatproc.WithEnv("MOAT_MASTER_KEY=" + base64.StdEncoding.EncodeToString(key))}
	a := moatproc.Start(t, opts...)
	b := moatproc.Start(t, append(opts, moatproc.WithoutRobot())...)
	b.Robot = a.Robot

	rnd := seededRand(t, "replicas")
	r := moatproc.NewRunner(t)
	layouts := map[string]string{}
	push := func(s *moatproc.Server, ref string) {
		t.Helper()
		layout, ok := layouts[ref]
		if !ok {
			layout = filepath.Join(t.TempDir(), "image")
			writeLayout(t, layout, "v1", newImage(t, rnd, linuxAMD64, 1, 16*1024))
			layouts[ref] = layout
		}
		r.Run(skopeo, "copy", "--dest-tls-verify=false", "--dest-creds="+s.Robot.Pair(), "oci:"+layout+":v1", "docker://"+s.Addr+"/prod/"+ref)
	}
	push(a, "one:1")
	push(b, "two:1")
	one := waitSigned(t, b, "prod/one", "1", 15*time.Second)
	two := waitSigned(t, a, "prod/two", "1", 15*time.Second)
	if one.KeyID != two.KeyID {
		t.Fatalf("the replicas signed with different keys: %s and %s", one.KeyID, two.KeyID)
	}
	// The same image pushed again, through the other replica: nothing
	// more is signed.
	push(b, "one:1")
	time.Sleep(3 * time.Second)
	for _, s := range []*moatproc.Server{a, b} {
		var keys struct{ Keys []struct{ ID string } }
		s.API(t, "GET", "/api/v1/signing/keys", nil, &keys)
		if len(keys.Keys) != 1 || keys.Keys[0].ID != one.KeyID {
			t.Errorf("%s lists keys %+v", s.Addr, keys.Keys)
		}
		for _, repo := range []string{"prod/one", "prod/two"} {
			sig := signaturesOf(t, s, repo, "1")
			formats := map[string]int{}
			for _, x := range sig.Signatures {
				formats[x.Format]++
			}
			if formats["notation"] != 1 || formats["cosign"] != 1 || !sig.Trusted {
				t.Errorf("%s on %s: %d Notation and %d cosign signatures (want one each): %+v", repo, s.Addr, formats["notation"], formats["cosign"], sig)
			}
		}
	}
}

// pullOnlyRobot creates a robot allowed registry:Pull on repositories
// matching pattern and returns its "username:secret".
func pullOnlyRobot(t *testing.T, s *moatproc.Server, moat func(...string) string, pattern string) string {
	t.Helper()
	return "robot+puller:" + robotWith(t, s, moat, "puller", `["registry:Pull"]`, pattern)
}

// robotWith creates robot name with the moat CLI, allowed actions (a JSON
// list) on repositories matching pattern, waits until the server has its
// policy (a token for pull is granted) and returns its secret.
func robotWith(t *testing.T, s *moatproc.Server, moat func(...string) string, name, actions, pattern string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^secret: (moat_rbt_\S+)$`).FindStringSubmatch(moat("robot", "create", name))
	if m == nil {
		t.Fatal("moat robot create printed no secret")
	}
	doc := filepath.Join(t.TempDir(), name+".json")
	writeFile(t, doc, `{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":`+actions+`,"Resource":"repository/`+pattern+`"}]}`)
	moat("policy", "put", name+"-policy", "--kind", "identity", "--file", doc)
	moat("policy", "attach", name+"-policy", "robot:"+name)
	repo := strings.TrimSuffix(pattern, "*") + "probe"
	waitFor(t, "the policy of robot "+name, 15*time.Second, func() (bool, string) {
		req, _ := http.NewRequest("GET", s.URL+"/auth/token?service=moat&scope=repository:"+repo+":pull", nil)
		req.SetBasicAuth("robot+"+name, m[1])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		var tok struct{ Token string }
		if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.Token == "" {
			return false, fmt.Sprintf("%d %v", resp.StatusCode, err)
		}
		claims, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok.Token, ".")[1])
		return strings.Contains(string(claims), `"actions":["pull"]`), string(claims)
	})
	return m[1]
}
