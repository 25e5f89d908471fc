package loadgen

import (
	"errors"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseAnswer(t *testing.T) {
	sid := avpBytes(avpSessionID, mbit, 0, []byte("mme;1;1"))
	origin := avpBytes(avpOriginHost, mbit, 0, []byte("eir.test"))
	expResult := func(code uint32) []byte {
		return avpBytes(avpExperimentalResult, mbit, 0, grouped(
			avpBytes(266, mbit, 0, u32(vendor3GPP)), avpBytes(avpExperimentalResultCode, mbit, 0, u32(code))))
	}
	tests := []struct {
		name    string
		msg     []byte
		want    Answer
		wantErr bool
	}{
		{"blacklisted", msgBytes(cmdECR, 0x40, appS13, 1, 1, sid, avpBytes(avpResultCode, mbit, 0, u32(2001)), origin,
			avpBytes(avpEquipmentStatus, mbit, vendor3GPP, u32(1))),
			Answer{ResultCode: 2001, EquipmentStatus: 1}, false},
		{"unknown equipment", msgBytes(cmdECR, 0x40, appS13, 1, 1, sid, expResult(5422), origin),
			Answer{ExperimentalResultCode: 5422, EquipmentStatus: -1}, false},
		{"protocol error with E-bit", msgBytes(cmdECR, 0x40|flagError, appS13, 1, 1, sid, origin, avpBytes(avpResultCode, mbit, 0, u32(3003))),
			Answer{ResultCode: 3003, EquipmentStatus: -1, ErrorBit: true}, false},
		{"equipment status without vendor is not the 3GPP AVP", msgBytes(cmdECR, 0, appS13, 1, 1,
			avpBytes(avpResultCode, mbit, 0, u32(2001)), avpBytes(avpEquipmentStatus, mbit, 0, u32(1))),
			Answer{ResultCode: 2001, EquipmentStatus: -1}, false},
		{"truncated", msgBytes(cmdECR, 0, appS13, 1, 1, sid)[:headerLen+4], Answer{}, true},
		{"avp longer than the message", func() []byte {
			m := msgBytes(cmdECR, 0, appS13, 1, 1, avpBytes(avpResultCode, mbit, 0, u32(2001)))
			m[headerLen+7] = 200
			return m
		}(), Answer{}, true},
		{"bad version", func() []byte { m := msgBytes(cmdECR, 0, appS13, 1, 1); m[0] = 2; return m }(), Answer{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAnswer(tc.msg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCategoryMatches(t *testing.T) {
	tests := []struct {
		cat  Category
		a    Answer
		want bool
	}{
		{Black, Answer{ResultCode: 2001, EquipmentStatus: 1}, true},
		{Black, Answer{ResultCode: 2001, EquipmentStatus: 0}, false},
		{Grey, Answer{ResultCode: 2001, EquipmentStatus: 2}, true},
		{White, Answer{ResultCode: 2001, EquipmentStatus: 0}, true},
		{Exception, Answer{ResultCode: 2001, EquipmentStatus: 0}, true},
		{Exception, Answer{ResultCode: 2001, EquipmentStatus: 1}, false},
		{Unknown, Answer{ExperimentalResultCode: 5422, EquipmentStatus: -1}, true},
		{Unknown, Answer{ResultCode: 5012, EquipmentStatus: -1}, false},
		{Unknown, Answer{ResultCode: 2001, ExperimentalResultCode: 5422, EquipmentStatus: -1}, false},
		{White, Answer{ResultCode: 2001, EquipmentStatus: 0, ErrorBit: true}, false},
	}
	for _, tc := range tests {
		if got := tc.cat.Matches(tc.a); got != tc.want {
			t.Errorf("%s.Matches(%+v) = %v, want %v", tc.cat, tc.a, got, tc.want)
		}
	}
}

func TestParseCEA(t *testing.T) {
	cea := msgBytes(cmdCER, 0, 0, 5, 5, avpBytes(avpResultCode, mbit, 0, u32(2001)),
		avpBytes(avpOriginHost, mbit, 0, []byte("eir.x")), avpBytes(avpOriginRealm, mbit, 0, []byte("realm.x")))
	c, err := parseCEA(cea)
	if err != nil || c != (capabilities{resultCode: 2001, originHost: "eir.x", originRealm: "realm.x"}) {
		t.Fatalf("parseCEA = %+v, %v", c, err)
	}
	if _, err := parseCEA(msgBytes(cmdECR, 0, 0, 5, 5)); err == nil {
		t.Fatal("an ECA parsed as a CEA")
	}
	if _, err := parseHeader([]byte{1, 0, 0}); !errors.Is(err, errShort) {
		t.Fatalf("short header: %v", err)
	}
}
