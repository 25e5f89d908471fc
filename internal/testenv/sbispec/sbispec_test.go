package sbispec

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	for _, f := range []string{N5gEIR, NFManagement, CommonData} {
		if _, err := Load(f); err != nil {
			t.Fatal(err)
		}
	}
}

func TestResponseValidation(t *testing.T) {
	v, err := NewValidator(N5gEIR)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://eir.example/n5g-eir-eic/v1/equipment-status?pei=imei-352099001761481", nil)
	json := http.Header{"Content-Type": {"application/json"}}
	problem := http.Header{"Content-Type": {"application/problem+json"}}
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		ok     bool
	}{
		{"200", 200, json, `{"status":"BLACKLISTED"}`, true},
		{"200 UNKNOWN is not a status", 200, json, `{"status":"UNKNOWN"}`, false},
		{"200 without status", 200, json, `{}`, false},
		{"404 problem", 404, problem, `{"status":404,"cause":"ERROR_EQUIPMENT_UNKNOWN"}`, true},
		{"400 problem", 400, problem, `{"status":400,"cause":"MANDATORY_QUERY_PARAM_MISSING","invalidParams":[{"param":"query pei"}]}`, true},
		{"400 invalidParams without param", 400, problem, `{"status":400,"invalidParams":[{"reason":"x"}]}`, false},
		{"404 as plain json", 404, json, `{"status":404}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Response(req, tc.status, tc.header, []byte(tc.body))
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestSchema(t *testing.T) {
	var profile any
	json.NewDecoder(strings.NewReader(`{"nfInstanceId":"4b4f5c1e-8d2a-4c1e-9a3e-0e6f2d7b9c10","nfType":"5G_EIR","nfStatus":"REGISTERED","ipv4Addresses":["192.0.2.21"]}`)).Decode(&profile)
	if err := Schema(NFManagement, "NFProfile", profile); err != nil {
		t.Fatalf("a minimal profile: %v", err)
	}
	var bad any
	json.NewDecoder(strings.NewReader(`{"nfType":"5G_EIR","nfStatus":"REGISTERED"}`)).Decode(&bad)
	if err := Schema(NFManagement, "NFProfile", bad); err == nil {
		t.Fatal("a profile without nfInstanceId passed")
	}
}
