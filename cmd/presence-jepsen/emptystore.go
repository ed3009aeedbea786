package main

import (
	"errors"
	"log/slog"
)

func emptyStoreCommand(args []string, log *slog.Logger) error { return errors.New("not yet") }
