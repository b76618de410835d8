package server

import (
	"fmt"
	"log"
	"log/slog"
)

// slogErrorLogger routes net/http's own messages (TLS handshake errors,
// header timeouts) into the structured log.
func slogErrorLogger(l *slog.Logger) *log.Logger {
	return slog.NewLogLogger(l.Handler(), slog.LevelWarn)
}

// slogErrorLog adapts slog to promhttp's Logger.
type slogErrorLog struct{ l *slog.Logger }

func (s slogErrorLog) Println(v ...any) { s.l.Error("metrics: " + fmt.Sprint(v...)) }
