package api

import "time"

// ObservedPair is what eird observed of one (IMEI, IMSI) pair.
type ObservedPair struct {
	IMEI      string    `json:"imei"`
	IMSI      string    `json:"imsi"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// DaysSeen counts the days the pair was seen since FirstSeen.
	DaysSeen int    `json:"days_seen"`
	SVN      string `json:"svn,omitempty"`  // last software version number
	Peer     string `json:"peer,omitempty"` // last MME Origin-Host or AMF
	// Interfaces are those the pair was seen on: s13, n5g.
	Interfaces []string `json:"interfaces"`
	MSISDN     string   `json:"msisdn,omitempty"` // last MSISDN (N5g-eir gpsi)
}

// ObservedDetection is a duplicate-IMEI rule the IMEI trips now.
type ObservedDetection struct {
	Rule     string   `json:"rule"` // duplicate_threshold, duplicate_daily_avg, concurrent_use
	IMSIs    []string `json:"imsis"`
	Count    int      `json:"count,omitempty"`
	SeenDays int      `json:"seen_days,omitempty"`
	IMSIDays int      `json:"imsi_days,omitempty"`
	Average  float64  `json:"average,omitempty"`
	Peers    []string `json:"peers,omitempty"`
}

// ObservedIMEI is the body of GET /v1/observed?imei=...: the pairs of
// the IMEI, most recently seen first, and the rules it trips now.
type ObservedIMEI struct {
	IMEI       string              `json:"imei"`
	Pairs      []ObservedPair      `json:"pairs"`
	Detections []ObservedDetection `json:"detections"`
}

// ObservedIMSI is the body of GET /v1/observed?imsi=...&reason=...: the
// subscriber's current IMEI and its pairs, most recently seen first.
type ObservedIMSI struct {
	IMSI        string         `json:"imsi"`
	CurrentIMEI string         `json:"current_imei,omitempty"`
	Since       *time.Time     `json:"since,omitempty"`
	Pairs       []ObservedPair `json:"pairs"`
}

// ForgetRequest is the body of POST /v1/observed/forget.
type ForgetRequest struct {
	IMSI   string `json:"imsi"`
	Reason string `json:"reason"`
}

// Forgotten is the answer to POST /v1/observed/forget: the pairs the
// subscriber had (within retention) when forgotten.
type Forgotten struct {
	IMSI  string `json:"imsi"`
	Pairs int    `json:"pairs"`
}

// OperatorDataHeaderSHA256 is the header of GET /v1/export/operator-data
// holding the zip's hex SHA-256; the file name is in Content-Disposition.
const OperatorDataHeaderSHA256 = "X-Eir-Sha256"
