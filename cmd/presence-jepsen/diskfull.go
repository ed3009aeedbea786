package main

import (
	"errors"
	"log/slog"
)

func diskFullCommand(args []string, log *slog.Logger) error { return errors.New("not yet") }
