package capture

import (
	"io"
	"net"
	"os"
	"os/exec"
	"testing"
	"strconv"
)

func TestExplore(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	c := Start(t, port)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s, err := ln.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, len(cer(1, 2)))
		io.ReadFull(s, buf)
		s.Write(cea(1, 2))
		io.Copy(io.Discard, s)
		s.Close()
	}()
	cl, _ := net.Dial("tcp", ln.Addr().String())
	cl.Write(cer(1, 2))
	buf := make([]byte, len(cea(1, 2)))
	io.ReadFull(cl, buf)
	bad := message(flagR, 280, 0, 3, 4, avpStr(264, "x"))
	bad[20+7] = 200 // AVP length runs past the end
	cl.Write(bad)
	cl.Close()
	<-done
	ln.Close()
	p := c.Stop(t)
	out, _ := exec.Command("tshark", "-r", p, "-n", "-d", "tcp.port=="+itoa(port)+",diameter", "-T", "pdml").CombinedOutput()
	os.WriteFile("/tmp/explore.pdml", out, 0o644)
	out, _ = exec.Command("tshark", "-r", p, "-n", "-d", "tcp.port=="+itoa(port)+",diameter", "-V").CombinedOutput()
	os.WriteFile("/tmp/explore.txt", out, 0o644)
}

func itoa(i int) string { return fmtInt(i) }

func fmtInt(i int) string { return string(append([]byte(nil), []byte(func() string { return strconv.Itoa(i) }())...)) }
