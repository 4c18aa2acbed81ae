package service

import (
	"slices"
	"testing"
)

func TestTakeConfigFlag(t *testing.T) {
	tests := []struct {
		args     []string
		wantRest []string
		wantPath string
		wantErr  bool
	}{
		{args: []string{"--step", "failed"}, wantRest: []string{"--step", "failed"}, wantPath: "env.yaml"},
		{args: []string{"--all", "--config", "a.yaml", "--json"}, wantRest: []string{"--all", "--json"}, wantPath: "a.yaml"},
		{args: []string{"-config=b.yaml", "7"}, wantRest: []string{"7"}, wantPath: "b.yaml"},
		{args: []string{"--config=c.yaml", "--", "--config", "x"}, wantRest: []string{"--", "--config", "x"}, wantPath: "c.yaml"},
		{args: []string{"--configure"}, wantRest: []string{"--configure"}, wantPath: "env.yaml"},
		{args: []string{"--json", "--config"}, wantErr: true},
	}
	for _, tt := range tests {
		path := "env.yaml"
		rest, err := takeConfigFlag(tt.args, &path)
		if (err != nil) != tt.wantErr {
			t.Errorf("takeConfigFlag(%q) error = %v; want error %v", tt.args, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && (!slices.Equal(rest, tt.wantRest) || path != tt.wantPath) {
			t.Errorf("takeConfigFlag(%q) = %q, path %q; want %q, %q", tt.args, rest, path, tt.wantRest, tt.wantPath)
		}
	}
}
