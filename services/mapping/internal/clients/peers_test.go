package clients_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	integrationsyncv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/integrationsync/v1"
	"github.com/orgplane/orgplane/services/mapping/internal/clients"
)

// directory is integration-sync's directory as its generated client answers: pages of at most
// the size asked (and at most 1000), each with the token of the next.
type directory struct {
	integrations []*integrationsyncv1.IntegrationSummary
	sizes        []int32
}

func (d *directory) ListIntegrationSummaries(_ context.Context, in *integrationsyncv1.ListIntegrationSummariesRequest, _ ...grpc.CallOption) (*integrationsyncv1.ListIntegrationSummariesResponse, error) {
	d.sizes = append(d.sizes, in.GetPageSize())
	size := int(in.GetPageSize())
	if size == 0 {
		size = 100
	}
	size = min(size, 1000)
	from := 0
	if in.GetPageToken() != "" {
		var err error
		if from, err = strconv.Atoi(in.GetPageToken()); err != nil {
			return nil, status.Error(codes.InvalidArgument, "page_token: is not a token from a previous page of this list")
		}
	}
	to := min(from+size, len(d.integrations))
	out := &integrationsyncv1.ListIntegrationSummariesResponse{Integrations: d.integrations[from:to]}
	if to < len(d.integrations) {
		out.NextPageToken = strconv.Itoa(to)
	}
	return out, nil
}

// The grid's columns are every integration of the account, however many pages the directory
// gives them in.
func TestSummariesFollowEveryPage(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 1000, 1001, 2500} {
		d := &directory{}
		for i := range n {
			d.integrations = append(d.integrations, &integrationsyncv1.IntegrationSummary{Id: fmt.Sprint("integration-", i), Kind: "itglue"})
		}
		got, err := clients.Integrations{Client: d}.Summaries(context.Background(), "account")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Fatalf("%d integrations: %d listed", n, len(got))
		}
		for i, in := range got {
			if in.ID != fmt.Sprint("integration-", i) {
				t.Fatalf("%d integrations: #%d is %s", n, i, in.ID)
			}
		}
		if want := max(1, (n+999)/1000); len(d.sizes) != want {
			t.Errorf("%d integrations in %d calls, want %d", n, len(d.sizes), want)
		}
		for _, s := range d.sizes {
			if s != 1000 {
				t.Errorf("a page of %d asked for, want the largest (1000)", s)
			}
		}
	}
}
