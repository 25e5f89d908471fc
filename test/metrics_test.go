package test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/eir-sidecar/eir/diameter/s13client"
)

// TestMetricsLint scrapes a running eird and lints every series the way
// promtool check metrics does, and checks the series the README promises.
func TestMetricsLint(t *testing.T) {
	e, drop := startEIRDWithSource(t)
	rows := "imei\nbad\n"
	for i := 0; i < 30; i++ {
		rows += fmt.Sprintf("860000000000%02d\n", i)
	}
	os.WriteFile(filepath.Join(drop, "a.csv"), []byte(rows), 0o644)
	if _, _, code := e.eirctl(t, "", "sync", "now"); code != 0 {
		t.Fatal("sync pass failed")
	}
	c, err := s13client.Dial(ctxT(t), e.diameter, s13client.Options{OriginHost: "mme5.e2e.test", OriginRealm: "e2e.test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, imei := range []string{"35209900176148", "12345678901234", "bad"} {
		if _, err := c.Check(ctxT(t), imei, ""); err != nil {
			t.Fatal(err)
		}
	}
	c.Disconnect(ctxT(t))
	e.eirctl(t, "", "check", "49015420323751")
	hc := h2c()
	if resp, err := hc.Get("http://" + e.n5g + "/n5g-eir-eic/v1/equipment-status?pei=imei-352099001761481"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("n5g: %v", err)
	} else {
		resp.Body.Close()
	}
	hc.CloseIdleConnections()

	resp, err := http.Get("http://" + e.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	problems, err := promlint.New(strings.NewReader(string(body))).Lint()
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
	for _, series := range []string{
		`eir_build_info{`,
		`eir_diameter_requests_total{command="ECR",result="2001"} 1`,
		`eir_diameter_requests_total{command="ECR",result="5422"} 1`,
		`eir_diameter_requests_total{command="ECR",result="5004"} 1`,
		`eir_diameter_requests_total{command="CER",result="2001"} 1`,
		`eir_diameter_request_duration_seconds_bucket{command="ECR"`,
		`eir_diameter_peers{state="open"} 0`,
		`eir_diameter_connections_closed_total{reason="peer_closed"} 1`,
		`eir_check_decisions_total{interface="s13",list_source="gsma",rule="imei",status="blacklisted"} 1`,
		`eir_check_decisions_total{interface="s13",list_source="",rule="none",status="unknown"} 1`,
		`eir_check_decisions_total{interface="admin",list_source="national",rule="imei",status="greylisted"} 1`,
		`eir_store_request_duration_seconds_bucket{op="match"`,
		`eir_store_version_switches_total 4`,
		`eir_sync_passes_total{result="ok",source="national"}`,
		`eir_sync_files_total{result="applied",source="national"} 1`,
		`eir_sync_entries{list="stolen",source="national"} 30`,
		`eir_sync_rejected_rows_total{list="stolen",source="national"} 1`,
		`eir_sync_last_success_timestamp_seconds{source="national"}`,
		`eir_sync_pass_duration_seconds_bucket{source="national"`,
		`eir_events_published_total{sink="stream"}`,
		`eir_n5g_requests_total{cause="",code="200"} 1`,
		`eir_n5g_request_duration_seconds_bucket{`,
		`eir_check_decisions_total{interface="n5g",list_source="gsma",rule="imei",status="blacklisted"} 1`,
		`eir_events_dropped_total{reason="queue_full"} 0`,
		`eir_events_queue_length`,
		`eir_sighting_observations_total{result="written"} 0`,
		`eir_sighting_dropped_total 0`,
		`eir_sighting_queue_length 0`,
		`eir_store_dataset_entries{expiring="false",list="black",source="gsma",target="imei"} 1`,
		`eir_store_dataset_version{expiring="false",list="black",source="national",target="imei"}`,
		`eir_store_dataset_updated_timestamp_seconds{`,
	} {
		if !strings.Contains(string(body), series) {
			t.Errorf("no %s in /metrics", series)
		}
	}
}
