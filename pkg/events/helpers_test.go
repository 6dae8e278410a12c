package events_test

import (
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	eventsv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/events/v1"
)

func protoMarshal(m proto.Message) ([]byte, error) { return proto.Marshal(m) }

func protoregistryFind(name protoreflect.FullName) (proto.Message, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
	if err != nil {
		return nil, err
	}
	return mt.New().Interface(), nil
}

// declaredEvents lists every linked message carrying the event option.
func declaredEvents() []protoreflect.FullName {
	var out []protoreflect.FullName
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		if proto.HasExtension(mt.Descriptor().Options(), eventsv1.E_Event) {
			out = append(out, mt.Descriptor().FullName())
		}
		return true
	})
	slices.Sort(out)
	return out
}
