// Command slowsvc is a service built by internal/service's tests: it has a
// /slow route that answers after a delay, to prove that SIGTERM lets
// in-flight requests finish.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/service"
)

type cfg struct {
	config.Common `mapstructure:",squash"`
}

func (c *cfg) Base() *config.Common { return &c.Common }
func (c *cfg) Validate() error      { return c.Common.Validate() }

func main() {
	service.Program[*cfg]{
		Name:      "slowsvc",
		EnvPrefix: "SLOW",
		Defaults: func() *cfg {
			return &cfg{config.Common{Env: "production", HTTP: config.DefaultHTTP("127.0.0.1:0"),
				Log: config.Log{Level: "info"}, MySQL: config.DefaultMySQL("slow"), Redis: config.DefaultRedis("slow:")}}
		},
		Setup: func(ctx context.Context, c *cfg, d *service.Deps) (func(), error) {
			d.Server.Engine().GET("/slow", func(c *gin.Context) {
				fmt.Fprintln(os.Stderr, "slow request started")
				time.Sleep(time.Second)
				c.String(http.StatusOK, "finished")
			})
			return nil, nil
		},
	}.Main()
}
