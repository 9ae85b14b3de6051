//go:build !unix

package fault

import "errors"

func mkfifo(string) error { return errors.New("no named pipes here") }
