package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidateExport(t *testing.T) {
	c := valid()
	if err := c.Validate(); err != nil {
		t.Fatalf("default export: %v", err)
	}
	c.Export.OperatorData = OperatorData{Enabled: true, At: "1:30", HomeNetworks: []string{"001-01", "00101"},
		CountryCodes: []string{"33", "x"}, OperatorID: "op 1", N5gRAT: "008", MSISDNFile: "/nonexistent/msisdn.csv"}
	err := c.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"export.operator_data.dir: required", "export.operator_data.at: \"1:30\"",
		"export.operator_data.home_networks: [1] \"00101\"", "export.operator_data.country_codes: [1]",
		"export.operator_data.operator_id: \"op 1\"", "export.operator_data.n5g_rat: \"008\"", "export.operator_data.msisdn_file:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	c.Export.OperatorData = OperatorData{Enabled: true, Dir: "/tmp", At: "23:45", OperatorID: "op_1", N5gRAT: "omit", HomeNetworks: []string{"310-260"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.Export.OperatorData.AtOffset(); got != 23*time.Hour+45*time.Minute {
		t.Errorf("AtOffset %v", got)
	}
}
