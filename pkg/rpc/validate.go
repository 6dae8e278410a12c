package rpc

import (
	"context"
	"errors"
	"strings"

	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// validationStatus turns protovalidate's violations into InvalidArgument with a
// google.rpc.BadRequest naming every offending field; the message names them too, for callers
// that only print the message.
func validationStatus(err error) error {
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		// A rule that cannot be evaluated is our bug, not the caller's.
		return err
	}
	br := &errdetails.BadRequest{}
	parts := make([]string, 0, len(verr.Violations))
	for _, v := range verr.Violations {
		field := protovalidate.FieldPathString(v.Proto.GetField())
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field:       field,
			Description: v.Proto.GetMessage(),
			Reason:      v.Proto.GetRuleId(),
		})
		parts = append(parts, field+": "+v.Proto.GetMessage())
	}
	s, _ := status.New(codes.InvalidArgument, "invalid request: "+strings.Join(parts, "; ")).WithDetails(br)
	return s.Err()
}

func validateUnary(v protovalidate.Validator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if m, ok := req.(proto.Message); ok {
			if err := v.Validate(m); err != nil {
				return nil, validationStatus(err)
			}
		}
		return handler(ctx, req)
	}
}

func validateStream(v protovalidate.Validator) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &validatingStream{ServerStream: ss, v: v})
	}
}

type validatingStream struct {
	grpc.ServerStream
	v protovalidate.Validator
}

func (s *validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if pm, ok := m.(proto.Message); ok {
		if err := s.v.Validate(pm); err != nil {
			return validationStatus(err)
		}
	}
	return nil
}
