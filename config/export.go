package config

import (
	"maps"
	"time"
)

// Export configures the files eird writes for registries (issue 14).
type Export struct {
	OperatorData OperatorData `yaml:"operator_data"`
}

// OperatorData configures the DIRBS operator data dump of the day's
// observations (regsync/opexport): on demand with eirctl export
// operator-data whenever operator_id is set, and every day when enabled.
type OperatorData struct {
	Enabled      bool     `yaml:"enabled"`       // write the previous day's file into dir every day after at (needs observe on)
	Dir          string   `yaml:"dir"`           // directory of the daily files, for the SFTP upload
	At           string   `yaml:"at"`            // time of day (HH:MM, in the observation store's zone) after which the previous day is exported
	OperatorID   string   `yaml:"operator_id"`   // DIRBS operator id, the first part of the file name; empty: no export
	HomeNetworks []string `yaml:"home_networks"` // the operator's MCC-MNC pairs (001-01), for the importer's out-of-region and home-network checks
	CountryCodes []string `yaml:"country_codes"` // the region's E.164 country codes, for the out-of-region MSISDN check
	MSISDNFile   string   `yaml:"msisdn_file"`   // CSV imsi,msisdn giving the MSISDN of pairs seen without one; re-read at every export
	N5gRAT       string   `yaml:"n5g_rat"`       // RAT code of pairs seen on N5g-eir (DIRBS has no NR code): 006 (E-UTRAN) | omit
}

// exportDocs are the docs of the export keys (merged into docs).
var exportDocs = map[string]string{
	"export.operator_data.enabled":       "write the previous day's file into dir every day after at (needs observe on)",
	"export.operator_data.dir":           "directory of the daily files, for the SFTP upload",
	"export.operator_data.at":            "time of day (HH:MM, in the observation store's zone) after which the previous day is exported",
	"export.operator_data.operator_id":   "DIRBS operator id, the first part of the file name; empty: no export",
	"export.operator_data.home_networks": "the operator's MCC-MNC pairs (001-01), for the importer's out-of-region and home-network checks",
	"export.operator_data.country_codes": "the region's E.164 country codes, for the out-of-region MSISDN check",
	"export.operator_data.msisdn_file":   "CSV imsi,msisdn giving the MSISDN of pairs seen without one; re-read at every export",
	"export.operator_data.n5g_rat":       "RAT code of pairs seen on N5g-eir (DIRBS has no NR code): 006 (E-UTRAN) | omit",
}

// init merges exportDocs into docs: the export keys live in this file so
// that the sections of config.go stay as they are.
func init() { maps.Copy(docs, exportDocs) }

func defaultExport() Export {
	return Export{OperatorData: OperatorData{Dir: "/var/lib/eird/operator-data", At: "01:00", N5gRAT: "006"}}
}

// AtOffset is At as an offset from midnight (Validate checked it).
func (o OperatorData) AtOffset() time.Duration {
	t, err := time.Parse("15:04", o.At)
	if err != nil {
		return 0
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
}

func (c Config) validateExport(p *problems) {
	o := c.Export.OperatorData
	const k = "export.operator_data."
	if o.Enabled {
		if o.OperatorID == "" {
			p.addf(k+"operator_id", "required with export.operator_data.enabled")
		}
		if o.Dir == "" {
			p.addf(k+"dir", "required with export.operator_data.enabled")
		}
	}
	if o.OperatorID != "" && !validOperatorID(o.OperatorID) {
		p.addf(k+"operator_id", "%q: want letters, digits, '_' and '-'", o.OperatorID)
	}
	if _, err := time.Parse("15:04", o.At); err != nil || len(o.At) != 5 {
		p.addf(k+"at", "%q: want a time of day HH:MM (01:30)", o.At)
	}
	for i, n := range o.HomeNetworks {
		if !validMCCMNC(n) {
			p.addf(k+"home_networks", "[%d] %q: want MCC-MNC, 3 digits, a dash and 2 or 3 digits (001-01)", i, n)
		}
	}
	for i, cc := range o.CountryCodes {
		if len(cc) < 1 || len(cc) > 3 || !allDigits(cc) {
			p.addf(k+"country_codes", "[%d] %q: want 1 to 3 digits", i, cc)
		}
	}
	p.file(k+"msisdn_file", o.MSISDNFile)
	n := o.N5gRAT
	if n != "omit" && !(len(n) == 3 && (n >= "001" && n <= "007" || n >= "101" && n <= "105")) {
		p.addf(k+"n5g_rat", "%q: want a DIRBS RAT code (001-007, 101-105) or omit", n)
	}
}

func validOperatorID(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return s != ""
}

func validMCCMNC(s string) bool {
	return len(s) >= 6 && len(s) <= 7 && s[3] == '-' && allDigits(s[:3]) && allDigits(s[4:])
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
