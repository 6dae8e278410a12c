package grpcapi

import (
	"context"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/orgplane/orgplane/services/org/internal/domain"
)

// Response headers the gateway turns into HTTP headers (see the gateway's header matcher).
const (
	HeaderCacheControl = "x-http-cache-control"
	HeaderETag         = "x-http-etag"
	HeaderLastModified = "x-http-last-modified"
)

// logoBody returns a logo (the account's or an organization's) as raw bytes with caching
// headers: browsers may keep it for a while and revalidate by ETag.
func logoBody(ctx context.Context, l domain.Logo) (*httpbody.HttpBody, error) {
	_ = grpc.SetHeader(ctx, metadata.Pairs(
		HeaderCacheControl, "private, max-age=300, must-revalidate",
		HeaderETag, l.ETag(),
		HeaderLastModified, l.Updated.UTC().Format(time.RFC1123),
	))
	return &httpbody.HttpBody{ContentType: l.ContentType, Data: l.Data}, nil
}
