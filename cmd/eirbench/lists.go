package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/eir-sidecar/eir/cmd/eirbench/loadgen"
	"github.com/eir-sidecar/eir/eir"
)

// benchSource is the list source the generated lists are loaded under.
const benchSource = "bench"

// listChanges returns the store changes that make d the whole content of
// source: the black, grey and white IMEI datasets and the exception pairs.
func listChanges(d *loadgen.Dataset, source string) []eir.Change {
	keys := func(l []eir.IMEI) []uint64 {
		out := make([]uint64, len(l))
		for i, v := range l {
			out[i] = uint64(v)
		}
		return out
	}
	pairs := make([]eir.Entry, len(d.Exceptions))
	for i, p := range d.Exceptions {
		pairs[i] = eir.Entry{IMEI: p.IMEI, IMSI: eir.IMSI(p.IMSIString())}
	}
	ds := func(t eir.Target, l eir.List) eir.Dataset { return eir.Dataset{Source: source, Target: t, List: l} }
	return []eir.Change{
		{Dataset: ds(eir.TargetIMEI, eir.ListBlack), Replace: true, AddKeys: keys(d.Black)},
		{Dataset: ds(eir.TargetIMEI, eir.ListGrey), Replace: true, AddKeys: keys(d.Grey)},
		{Dataset: ds(eir.TargetIMEI, eir.ListWhite), Replace: true, AddKeys: keys(d.White)},
		{Dataset: ds(eir.TargetPair, eir.ListException), Replace: true, Add: pairs},
	}
}

// writeListsCSV writes d in the eirctl import format (imei,status,imsi,source).
func writeListsCSV(w io.Writer, d *loadgen.Dataset, source string) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString("imei,status,imsi,source\n")
	for _, l := range []struct {
		status string
		imeis  []eir.IMEI
	}{{"black", d.Black}, {"grey", d.Grey}, {"white", d.White}} {
		for _, v := range l.imeis {
			fmt.Fprintf(bw, "%s,%s,,%s\n", v, l.status, source)
		}
	}
	for _, p := range d.Exceptions {
		fmt.Fprintf(bw, "%s,exception,%s,%s\n", p.IMEI, p.IMSIString(), source)
	}
	return bw.Flush()
}

// writeListsFile writes d to a new file at path.
func writeListsFile(path string, d *loadgen.Dataset, source string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeListsCSV(f, d, source); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// listsCommand runs `eirbench lists`.
func listsCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lists", flag.ContinueOnError)
	fs.SetOutput(stderr)
	entries := fs.Int("entries", defaultEntries, "IMEIs per generated list")
	seed := fs.Uint64("seed", 1, "seed of the generated lists")
	source := fs.String("source", benchSource, "list source of the rows")
	out := fs.String("o", "-", "output file; - for stdout")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: eirbench lists [flags]

Writes the lists that load, ref and ratio generate from -entries and -seed,
as a CSV file for eirctl import (imei,status,imsi,source): the black, grey
and white IMEIs and the IMEI–IMSI exceptions. Unknown IMEIs are on no list.

  eirbench lists -o bench.csv && eirctl import -replace -reason "bench lists" bench.csv

flags:`)
		fs.PrintDefaults()
	}
	if code, ok := parseNoArgs(fs, args, stdout, stderr); !ok {
		return code
	}
	if err := eir.ValidateSource(*source); err != nil {
		fmt.Fprintf(stderr, "eirbench: -source: %v\n", err)
		return exitUsage
	}
	d := loadgen.Generate(*seed, *entries)
	var err error
	if *out == "-" {
		err = writeListsCSV(stdout, d, *source)
	} else {
		err = writeListsFile(*out, d, *source)
	}
	if err != nil {
		fmt.Fprintf(stderr, "eirbench: write lists: %v\n", err)
		return exitFailure
	}
	return exitOK
}
