package delivery

import (
	"fmt"

	"github.com/magefleet/platform/internal/config"
)

func secretOf(s string) config.Secret { return config.Secret(s) }

func fmtSscan(s string, v *int) (int, error) { return fmt.Sscan(s, v) }
