//go:build tools

// Package tools pins the shell-operator command so that `go build
// github.com/flant/shell-operator/cmd/shell-operator` resolves it from this module's go.mod and go.sum.
package tools

import (
	_ "github.com/flant/shell-operator/cmd/shell-operator"
)
