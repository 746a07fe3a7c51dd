package awstest

import "os/exec"

func motoInstalled() bool {
	_, err := exec.LookPath("moto_server")
	return err == nil
}
