// franz-go's kadm ACL calls against the package's broker, which runs without an authorizer:
// every creation is refused SECURITY_DISABLED, as Kafka without an authorizer answers
// (the broker with --authorizer is tested by the Rust and Java suites).
package interop

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func TestFranzACLsWithoutAnAuthorizerAreSecurityDisabled(t *testing.T) {
	adm := franzAdmin(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	topic := unique("franz-acl")
	create := kadm.NewACLs().
		Allow("User:alice").AllowHosts("*").
		Topics(topic).
		Operations(kadm.OpRead, kadm.OpWrite).
		ResourcePatternType(kadm.ACLPatternLiteral)
	created, err := adm.CreateACLs(ctx, create)
	if err != nil {
		t.Fatalf("CreateACLs: %v", err)
	}
	if len(created) != 2 {
		t.Fatalf("CreateACLs: %d results, want 2: %+v", len(created), created)
	}
	for _, r := range created {
		if !errors.Is(r.Err, kerr.SecurityDisabled) {
			t.Fatalf("creating %s on %s: %v, want %v", r.Operation, r.Name, r.Err, kerr.SecurityDisabled)
		}
	}
	filter := kadm.NewACLs().
		Allow().AllowHosts().
		Topics(topic).
		Operations().
		ResourcePatternType(kadm.ACLPatternLiteral)
	described, err := adm.DescribeACLs(ctx, filter)
	if err != nil {
		t.Fatalf("DescribeACLs: %v", err)
	}
	if len(described) != 1 || !errors.Is(described[0].Err, kerr.SecurityDisabled) {
		t.Fatalf("DescribeACLs: %+v, want one filter refused %v", described, kerr.SecurityDisabled)
	}
	if len(described[0].Described) != 0 {
		t.Fatalf("DescribeACLs listed %+v without an authorizer", described[0].Described)
	}
}
