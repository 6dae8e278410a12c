// Package openapi holds the merged OpenAPI documents of the whole public API, generated from
// proto/ (make generate): protoc-gen-openapiv2's Swagger 2.0, enriched with the request rules,
// and its OpenAPI 3.0 conversion (tools/oapi/openapi3) that client generators read.
package openapi

import _ "embed"

// Document is the Swagger 2.0 document.
//
//go:embed orgplane.swagger.json
var Document []byte

// DocumentV3 is the same API as OpenAPI 3.0.
//
//go:embed orgplane.openapi3.json
var DocumentV3 []byte
