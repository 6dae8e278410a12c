// Package ui holds the web UI's build (dist/, made by `make ui` from the TypeScript sources
// beside it and committed, so building the gateway needs Go alone). The gateway serves it
// (gatewaysvc/ui.go).
package ui

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// FS is the build's root: index.html, and the content-hashed files under assets/.
var FS = func() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // cannot happen: the embed pattern names dist
	}
	return sub
}()
