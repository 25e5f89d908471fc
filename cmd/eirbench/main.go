// Command eirbench is an MME simulator for testing and measuring an S13 EIR.
//
//	eirbench check [flags] IMEI[,IMSI] ...   connect as a Diameter peer, send one ECR per argument, print each answer
//	eirbench layout [flags]                  load synthetic IMEIs into Redis and report bytes per IMEI and load rate
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/eir"
	"github.com/eir-sidecar/eir/eir/redisstore"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: eirbench check|layout [flags] ...  (eirbench <command> -h for help)")
		return 2
	}
	switch args[0] {
	case "check":
		return check(args[1:], stdout, stderr)
	case "layout":
		return layout(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "eirbench: unknown command %q\n", args[0])
	return 2
}

func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:3868", "EIR address (TCP)")
	host := fs.String("origin-host", "mme.eirbench.localdomain", "Origin-Host of the simulated MME")
	realm := fs.String("origin-realm", "eirbench.localdomain", "Origin-Realm of the simulated MME")
	destRealm := fs.String("destination-realm", "", "Destination-Realm (default: the EIR's Origin-Realm from its CEA)")
	destHost := fs.String("destination-host", "", "Destination-Host (default: none)")
	verbose := fs.Bool("v", false, "print every AVP of the answers")
	timeout := fs.Duration("timeout", 5*time.Second, "timeout per request")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: eirbench check [flags] IMEI[,IMSI] ...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c, err := s13client.Dial(ctx, *addr, s13client.Options{OriginHost: *host, OriginRealm: *realm,
		DestinationRealm: *destRealm, DestinationHost: *destHost})
	if err != nil {
		fmt.Fprintf(stderr, "eirbench: %v\n", err)
		if c != nil {
			fmt.Fprintln(stderr, c.CEA.Msg)
		}
		return 1
	}
	defer c.Close()
	fmt.Fprintf(stdout, "connected to %s (%s)\n", *addr, avpText(c.CEA, avp.OriginHost, 0))
	failed := 0
	for _, arg := range fs.Args() {
		imei, imsi, _ := strings.Cut(arg, ",")
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		a, err := c.Check(ctx, imei, imsi)
		cancel()
		if err != nil {
			fmt.Fprintf(stderr, "eirbench: %s: %v\n", arg, err)
			failed++
			continue
		}
		fmt.Fprintf(stdout, "%s: %s\n", arg, describe(a))
		if *verbose {
			fmt.Fprintln(stdout, a.Msg)
		}
	}
	dctx, dcancel := context.WithTimeout(context.Background(), *timeout)
	c.Disconnect(dctx)
	dcancel()
	if failed > 0 {
		return 1
	}
	return 0
}

// describe summarises an ECA the way an MME sees it.
func describe(a s13client.Answer) string {
	m := a.Msg
	status := map[int]string{0: "WHITELISTED", 1: "BLACKLISTED", 2: "GREYLISTED"}
	if _, err := m.FindAVP(avp.ExperimentalResult, 0); err == nil {
		return fmt.Sprintf("Experimental-Result-Code %d (vendor 10415)", s13client.ResultCode(m))
	}
	rc := s13client.ResultCode(m)
	if es := s13client.EquipmentStatus(m); es >= 0 {
		return fmt.Sprintf("Result-Code %d, Equipment-Status %d (%s)", rc, es, status[es])
	}
	text := fmt.Sprintf("Result-Code %d", rc)
	if msg := avpText(a, avp.ErrorMessage, 0); msg != "" {
		text += " (" + msg + ")"
	}
	return text
}

func avpText(a s13client.Answer, code, vendor uint32) string {
	if a.Msg == nil {
		return ""
	}
	v, err := a.Msg.FindAVP(code, vendor)
	if err != nil {
		return ""
	}
	switch d := v.Data.(type) {
	case datatype.DiameterIdentity:
		return string(d)
	case datatype.UTF8String:
		return string(d)
	}
	return fmt.Sprint(v.Data)
}

func layout(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("layout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("redis", "127.0.0.1:6379", "Redis address (use a dedicated instance: used_memory is measured server-wide)")
	n := fs.Int("n", 1_000_000, "IMEIs to load")
	prefix := fs.String("prefix", "eirbench:", "key prefix (deleted after the measure)")
	keep := fs.Bool("keep", false, "keep the data after measuring")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx := context.Background()
	rdb, err := redisstore.NewClient(redisstore.ClientOptions{Addresses: []string{*addr}, DialTimeout: 2 * time.Second,
		ReadTimeout: time.Minute, WriteTimeout: time.Minute, PoolSize: 4})
	if err != nil {
		fmt.Fprintf(stderr, "eirbench: %v\n", err)
		return 1
	}
	defer rdb.Close()
	s, err := redisstore.New(ctx, rdb, redisstore.Options{Prefix: *prefix, Grace: time.Millisecond}, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		fmt.Fprintf(stderr, "eirbench: %v\n", err)
		return 1
	}
	mem := func() int64 {
		info, err := rdb.Info(ctx, "memory").Result()
		if err != nil {
			return -1
		}
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
				var n int64
				fmt.Sscan(v, &n)
				return n
			}
		}
		return -1
	}
	list := redisstore.SyntheticIMEIs(*n, 1)
	ds := eir.Dataset{Source: "eirbench", Target: eir.TargetIMEI, List: eir.ListBlack}
	before := mem()
	start := time.Now()
	if _, err := s.Apply(ctx, []eir.Change{{Dataset: ds, Replace: true, Add: list}}); err != nil {
		fmt.Fprintf(stderr, "eirbench: load: %v\n", err)
		return 1
	}
	took := time.Since(start)
	after := mem()
	fmt.Fprintf(stdout, "imeis\t%d\nload_seconds\t%.2f\nimeis_per_second\t%.0f\nused_memory_delta_bytes\t%d\nbytes_per_imei\t%.2f\n",
		*n, took.Seconds(), float64(*n)/took.Seconds(), after-before, float64(after-before)/float64(*n))
	if !*keep {
		s.Apply(ctx, []eir.Change{{Dataset: ds, Replace: true}})
		time.Sleep(5 * time.Millisecond) // past the 1ms grace
		s.Collect(ctx)
		rdb.Del(ctx, "{"+*prefix+"meta}:manifest", "{"+*prefix+"meta}:epoch", "{"+*prefix+"meta}:seq")
	}
	return 0
}
