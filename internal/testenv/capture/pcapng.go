package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// probeMagic starts the payload of every probe/marker datagram; a random
// hex token of probeTokenLen characters follows it.
const (
	probeMagic    = "eir-capture-probe:"
	probeTokenLen = 32
)

// pcapngScanner incrementally reads the pcapng file dumpcap is writing. It
// only consumes complete blocks (a block still being written is re-read on the
// next call), counts the packets that are not probes and records, for every
// probe token seen, how many non-probe packets preceded its first copy.
type pcapngScanner struct {
	path  string
	off   int64 // start of the first block not consumed yet
	order binary.ByteOrder
	other int            // non-probe packets seen so far
	seen  map[string]int // probe token -> non-probe packets before it
}

func newScanner(path string) *pcapngScanner {
	return &pcapngScanner{path: path, seen: map[string]int{}}
}

const (
	blockSHB = 0x0A0D0D0A // section header
	blockPB  = 0x00000002 // obsolete packet block
	blockSPB = 0x00000003 // simple packet block
	blockEPB = 0x00000006 // enhanced packet block
)

// update consumes every complete block appended since the previous call.
func (s *pcapngScanner) update() error {
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // dumpcap has not created the file yet
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(s.off, io.SeekStart); err != nil {
		return err
	}
	buf, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	for len(buf) >= 12 {
		if binary.LittleEndian.Uint32(buf) == blockSHB { // palindrome: same in both orders
			switch {
			case bytes.Equal(buf[8:12], []byte{0x4D, 0x3C, 0x2B, 0x1A}):
				s.order = binary.LittleEndian
			case bytes.Equal(buf[8:12], []byte{0x1A, 0x2B, 0x3C, 0x4D}):
				s.order = binary.BigEndian
			default:
				return fmt.Errorf("%s: bad pcapng byte-order magic at offset %d", s.path, s.off)
			}
		}
		if s.order == nil {
			return fmt.Errorf("%s: not a pcapng file (no section header at offset %d)", s.path, s.off)
		}
		typ, n := s.order.Uint32(buf), s.order.Uint32(buf[4:])
		if n < 12 || n%4 != 0 {
			return fmt.Errorf("%s: corrupt pcapng block (type %#x, length %d) at offset %d", s.path, typ, n, s.off)
		}
		if uint64(len(buf)) < uint64(n) {
			break // partially written; pick it up next time
		}
		body := buf[8 : n-4]
		switch typ {
		case blockEPB, blockPB:
			if len(body) >= 20 {
				capLen := min(int(s.order.Uint32(body[12:])), len(body)-20)
				s.packet(body[20 : 20+capLen])
			}
		case blockSPB:
			if len(body) >= 4 {
				capLen := min(int(s.order.Uint32(body)), len(body)-4)
				s.packet(body[4 : 4+capLen])
			}
		}
		buf = buf[n:]
		s.off += int64(n)
	}
	return nil
}

func (s *pcapngScanner) packet(data []byte) {
	i := bytes.Index(data, []byte(probeMagic))
	if i < 0 || len(data)-i < len(probeMagic)+probeTokenLen {
		s.other++
		return
	}
	tok := string(data[i+len(probeMagic) : i+len(probeMagic)+probeTokenLen])
	if _, ok := s.seen[tok]; !ok {
		s.seen[tok] = s.other
	}
}
