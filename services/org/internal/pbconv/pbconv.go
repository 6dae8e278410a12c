// Package pbconv converts between the org service's domain types and its protos, in one place:
// grpcapi uses it for requests and responses, app for the payloads of the events it publishes.
package pbconv
