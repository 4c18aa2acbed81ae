package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/magefleet/platform/internal/service"
	"github.com/magefleet/platform/magento-bridge/internal/bridgestore"
)

func commands() map[string]service.Command[*Config] {
	return map[string]service.Command[*Config]{
		"dead-letters": {Usage: "list dead letters (--all includes replayed, --json prints everything)", Run: deadLetters},
		"replay":       {Usage: "replay <id>: put a dead letter's event back in the queue", Run: replay},
	}
}

func deadLetters(ctx context.Context, cfg *Config, d *service.Deps, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("dead-letters", flag.ContinueOnError)
	fs.SetOutput(out)
	all := fs.Bool("all", false, "include replayed dead letters")
	asJSON := fs.Bool("json", false, "print JSON with histories and payloads")
	limit := fs.Int("limit", 100, "how many to list, newest first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	list, err := bridgestore.New(d.DB).DeadLetters(ctx, *all, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	if len(list) == 0 {
		fmt.Fprintln(out, "no dead letters")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED\tSTATUS\tREASON\tPAYMENT\tATTEMPTS\tERROR")
	for _, dl := range list {
		msg := dl.Error
		if len(msg) > 100 {
			msg = msg[:100] + "…"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", dl.ID, dl.CreatedAt.Format(time.RFC3339), dl.Status, dl.Reason, dl.PaymentID, dl.Attempts, msg)
	}
	return tw.Flush()
}

func replay(ctx context.Context, cfg *Config, d *service.Deps, args []string, out io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: magento-bridge replay <dead letter id>")
	}
	id, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("replay: %q is not a dead letter id", args[0])
	}
	by := "cli"
	if u := os.Getenv("USER"); u != "" {
		by = "cli:" + u
	}
	dl, err := bridgestore.New(d.DB).Replay(ctx, id, by, d.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "dead letter %d replayed: event %s (payment %s) is queued again\n", dl.ID, dl.EventID, dl.PaymentID)
	return nil
}
