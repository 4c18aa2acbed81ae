package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/magefleet/platform/internal/service"
	"github.com/magefleet/platform/magento-bridge/internal/bridge"
	"github.com/magefleet/platform/magento-bridge/internal/bridgestore"
)

func commands() map[string]service.Command[*Config] {
	return map[string]service.Command[*Config]{
		"dead-letters": {Usage: "list dead letters (--all includes replayed, --json prints everything)", Run: deadLetters},
		"replay":       {Usage: "replay <id>: put a dead letter's event back in the queue", Run: replay},
		"captures": {Usage: "list invoice captures, newest first (--step pending, captured, done, refused or failed; " +
			"--json prints everything)", Run: captures},
		"retry-capture": {Usage: "retry-capture <invoice id>: put a failed capture back to pending; the next poll asks checkout again", Run: retryCapture},
	}
}

// operator names who runs a command, for the records it leaves.
func operator() string {
	if u := os.Getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
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
	if *asJSON || len(list) == 0 {
		return printList(out, *asJSON, list, "no dead letters")
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED\tSTATUS\tREASON\tPAYMENT\tATTEMPTS\tERROR")
	for _, dl := range list {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", dl.ID, dl.CreatedAt.Format(time.RFC3339), dl.Status, dl.Reason, dl.PaymentID, dl.Attempts, clip(dl.Error))
	}
	return tw.Flush()
}

func replay(ctx context.Context, cfg *Config, d *service.Deps, args []string, out io.Writer) error {
	id, err := idArg(args, "replay", "dead letter id")
	if err != nil {
		return err
	}
	dl, err := bridgestore.New(d.DB).Replay(ctx, id, operator(), d.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "dead letter %d replayed: event %s (payment %s) is queued again\n", dl.ID, dl.EventID, dl.PaymentID)
	return nil
}

// captures lists bridge_captures, newest invoice first.
func captures(ctx context.Context, cfg *Config, d *service.Deps, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("captures", flag.ContinueOnError)
	fs.SetOutput(out)
	step := fs.String("step", "", "only the captures at this step: "+strings.Join(bridge.CaptureSteps, ", "))
	asJSON := fs.Bool("json", false, "print JSON with every field")
	limit := fs.Int("limit", 100, "how many to list, newest invoice first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("usage: magento-bridge captures [--step step] [--limit n] [--json]")
	}
	if *step != "" && !bridge.ValidCaptureStep(*step) {
		return fmt.Errorf("captures: step %q is not one of %s", *step, strings.Join(bridge.CaptureSteps, ", "))
	}
	if *limit < 1 || *limit > 1000 {
		return fmt.Errorf("captures: --limit must be between 1 and 1000")
	}
	list, err := bridgestore.New(d.DB).Captures(ctx, *step, *limit)
	if err != nil {
		return err
	}
	if *asJSON || len(list) == 0 {
		return printList(out, *asJSON, list, strings.TrimSpace("no "+*step+" captures"))
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INVOICE\tINCREMENT\tORDER\tPAYMENT\tCAPTURE\tGATEWAY\tAMOUNT (MINOR)\tSTEP\tATTEMPTS\tUPDATED\tREASON\tERROR")
	for _, c := range list {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%d %s\t%s\t%d\t%s\t%s\t%s\n", c.InvoiceID, c.InvoiceIncrementID, c.OrderID, c.PaymentID,
			c.CaptureID, c.Gateway, c.Amount, c.Currency, c.Step, c.Attempts, c.UpdatedAt.Format(time.RFC3339), clip(c.Reason), clip(c.LastError))
	}
	return tw.Flush()
}

// retryCapture sets a failed capture back to pending: the bridge's next
// capture poll asks checkout again, with the same capture id.
func retryCapture(ctx context.Context, cfg *Config, d *service.Deps, args []string, out io.Writer) error {
	id, err := idArg(args, "retry-capture", "Magento invoice id")
	if err != nil {
		return err
	}
	c, err := bridgestore.New(d.DB).RetryCapture(ctx, id, operator(), d.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "capture of invoice %s (id %d, payment %s) is pending again: the next poll asks checkout for %d %s (minor units) with capture id %s\n",
		c.InvoiceIncrementID, c.InvoiceID, c.PaymentID, c.Amount, c.Currency, c.CaptureID)
	return nil
}

// idArg reads a command's one argument, a positive id.
func idArg(args []string, cmd, what string) (int64, error) {
	if len(args) != 1 {
		return 0, fmt.Errorf("usage: magento-bridge %s <%s>", cmd, what)
	}
	id, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%s: %q is not a %s", cmd, args[0], what)
	}
	return id, nil
}

// printList prints list as indented JSON, or none when it is empty.
func printList[T any](out io.Writer, asJSON bool, list []T, none string) error {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	_, err := fmt.Fprintln(out, none)
	return err
}

// clip shortens a message for a table cell.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}
