// Package grpcapi is the org service's gRPC transport: it converts between protos and the domain
// and nothing else. Validation (protovalidate), authentication and error codes happen in the
// shared interceptors.
package grpcapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orgplane/orgplane/pkg/apperr"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/services/org/internal/account"
)

const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// Accounts serves orgplane.org.v1.AccountService.
type Accounts struct {
	orgv1.UnimplementedAccountServiceServer
	svc *account.Service
}

// NewAccounts returns the AccountService implementation over svc.
func NewAccounts(svc *account.Service) *Accounts { return &Accounts{svc: svc} }

func (s *Accounts) CreateAccount(ctx context.Context, req *orgv1.CreateAccountRequest) (*orgv1.Account, error) {
	a, err := s.svc.Create(ctx, req.GetAccount().GetDisplayName())
	if err != nil {
		return nil, err
	}
	return toProto(a), nil
}

func (s *Accounts) GetAccount(ctx context.Context, req *orgv1.GetAccountRequest) (*orgv1.Account, error) {
	a, err := s.svc.Get(ctx, req.GetAccountId())
	if err != nil {
		return nil, err
	}
	return toProto(a), nil
}

func (s *Accounts) ListAccounts(ctx context.Context, req *orgv1.ListAccountsRequest) (*orgv1.ListAccountsResponse, error) {
	size := int(req.GetPageSize())
	if size == 0 {
		size = defaultPageSize
	}
	size = min(size, maxPageSize)
	p := account.Page{Size: size + 1} // one extra tells whether another page exists
	if tok := req.GetPageToken(); tok != "" {
		after, err := decodeToken(tok)
		if err != nil {
			return nil, err
		}
		p.After = &after
	}
	list, err := s.svc.List(ctx, p)
	if err != nil {
		return nil, err
	}
	resp := &orgv1.ListAccountsResponse{}
	if len(list) > size {
		list = list[:size]
		resp.NextPageToken = encodeToken(list[size-1])
	}
	for _, a := range list {
		resp.Accounts = append(resp.Accounts, toProto(a))
	}
	return resp, nil
}

func toProto(a account.Account) *orgv1.Account {
	return &orgv1.Account{Id: a.ID, DisplayName: a.DisplayName, CreateTime: timestamppb.New(a.CreateTime)}
}

// A page token is the keyset position after which the next page starts. It carries no
// authority: a forged one can only move the caller within the rows it may already read.
type pageToken struct {
	CreateTime time.Time `json:"t"`
	ID         string    `json:"i"`
}

var errBadToken = apperr.Invalid("page_token", "not a token from a previous page")

func encodeToken(a account.Account) string {
	b, _ := json.Marshal(pageToken{CreateTime: a.CreateTime, ID: a.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s string) (account.Account, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return account.Account{}, errBadToken
	}
	var t pageToken
	if err := json.Unmarshal(b, &t); err != nil || t.ID == "" || t.CreateTime.IsZero() {
		return account.Account{}, errBadToken
	}
	return account.Account{ID: t.ID, CreateTime: t.CreateTime}, nil
}
