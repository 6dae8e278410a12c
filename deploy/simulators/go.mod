module github.com/orgplane/orgplane/deploy/simulators

go 1.26.0
