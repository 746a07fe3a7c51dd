//go:build !linux

package main

// stopWithParent has no portable equivalent outside Linux; there make's
// exec of the binary leaves a single process to stop.
func stopWithParent() {}
