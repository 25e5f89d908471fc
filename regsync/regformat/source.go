package regformat

import (
	"bytes"
	"errors"
	"io"
)

// bufSize is the read buffer between the file and the CSV reader. The CSV
// reader uses a *bufio.Reader of at least 4096 bytes as is, so this is the
// only buffer, and the most the reader is ever ahead of the current row.
const bufSize = 64 << 10

// winKeep is how many of the most recently read bytes source keeps for
// BadRow.Raw: enough for the read-ahead plus rows up to 64 KiB.
const winKeep = bufSize + 64<<10

// headLen is how many bytes of the file sniff looks at.
const headLen = 4

var (
	errNUL     = errors.New("nul byte: binary data, not csv text")
	errLongRow = errors.New("row too long")
)

// source wraps the file. It keeps a window of the last bytes read (to quote
// bad rows as they were written), rejects NUL bytes and stops a single row
// (a line without a newline, or an unterminated quoted field) from growing
// past maxRow, which bounds the CSV reader's memory.
type source struct {
	r      io.Reader
	off    int64  // bytes read so far
	win    []byte // the last bytes read; win[len(win)-1] is at off-1
	row    int64  // offset where the row being read starts
	maxRow int64
	err    error  // sticky: once the file fails, it stays failed
	head   []byte // the first bytes of the file, to recognise binary formats
}

func (s *source) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.off-s.row > s.maxRow+bufSize {
		s.err = errLongRow
		return 0, s.err
	}
	n, err := s.r.Read(p)
	if err != nil {
		s.err = err
	}
	if n > 0 {
		chunk := p[:n]
		if len(s.head) < headLen {
			s.head = append(s.head, chunk[:min(n, headLen-len(s.head))]...)
		}
		if bytes.IndexByte(chunk, 0) >= 0 {
			s.err = errNUL
			return 0, s.err
		}
		s.off += int64(n)
		s.win = append(s.win, chunk...)
		if len(s.win) > 2*winKeep {
			k := copy(s.win, s.win[len(s.win)-winKeep:])
			s.win = s.win[:k]
		}
	}
	return n, err
}

// raw returns the bytes from offset start to end if they are still in the
// window, at most limit of them; nil otherwise.
func (s *source) raw(start, end int64, limit int) []byte {
	first := s.off - int64(len(s.win))
	if start < first || end > s.off || start > end {
		return nil
	}
	b := s.win[start-first : end-first]
	b = bytes.TrimLeft(b, "\r\n") // blank lines the CSV reader skipped
	b = bytes.TrimRight(b, "\r\n")
	if len(b) > limit {
		b = b[:limit]
	}
	return b
}

// fatal reports whether reading the file failed (other than at its end).
func (s *source) fatal() bool { return s.err != nil && s.err != io.EOF }
