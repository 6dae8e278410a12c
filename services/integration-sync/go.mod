module github.com/orgplane/orgplane/services/integration-sync

go 1.26.0

require github.com/orgplane/orgplane/pkg v0.0.0

replace github.com/orgplane/orgplane/pkg => ../../pkg
