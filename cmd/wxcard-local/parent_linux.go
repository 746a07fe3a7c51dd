package main

import "syscall"

// stopWithParent asks Linux to send SIGTERM when the parent process (make)
// exits: a SIGTERM to make alone then stops the local API as well.
func stopWithParent() {
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0)
}
