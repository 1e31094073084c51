//go:build tools

// Package tools pins the kube-apiserver and kubectl commands of k8s.io/kubernetes so that
// `go build k8s.io/kubernetes/cmd/...` resolves them from this module's go.mod and go.sum.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
