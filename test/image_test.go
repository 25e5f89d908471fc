package test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/eir-sidecar/eir/diameter/s13client"
	"github.com/eir-sidecar/eir/internal/testenv"
	"github.com/eir-sidecar/eir/internal/testenv/redistest"
)

// podmanRun is how containers run on the machines this was written on:
// runc (crun refuses there), the host's network, and limits a rootful
// podman in a container may set (README, "Container image").
var podmanRun = []string{"--runtime", "runc", "run", "--network", "host",
	"--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096", "--pull", "never"}

// TestImage builds the container image with make image (under a tag of its
// own), runs it with podman against a Redis on the host, loads lists
// through the admin API and has it answer an ECR and an N5g-eir request.
// It checks the image's health check, its user and its content, and
// removes the container and the image at the end.
func TestImage(t *testing.T) {
	podman := tool(t, "podman", "podman")
	tool(t, "runc", "runc")
	image := buildImage(t, podman)

	rds := redistest.Start(t)
	ports := freeTCPPorts(t, 3)
	diam, n5gAddr, admin := "127.0.0.1:"+ports[0], "127.0.0.1:"+ports[1], "127.0.0.1:"+ports[2]
	name := fmt.Sprintf("eird-e2e-%d", time.Now().UnixNano())
	args := append(slices.Clone(podmanRun), "-d", "--name", name,
		"-e", "EIR_REDIS_ADDRESSES="+rds.Addr(),
		"-e", "EIR_DIAMETER_LISTEN="+diam,
		"-e", "EIR_N5G_LISTEN="+n5gAddr,
		"-e", "EIR_ADMIN_LISTEN="+admin,
		"-e", "EIR_DIAMETER_ORIGIN_HOST=eir.image.test",
		"-e", "EIR_DIAMETER_ORIGIN_REALM=image.test",
		image)
	// Removed with its anonymous volume (/var/lib/eird); registered before
	// the start, so that a half-started container goes too.
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command(podman, "logs", name).CombinedOutput()
			t.Logf("container log:\n%s", out)
		}
		podmanDo(t, podman, 60*time.Second, "rm", "-f", "-v", "--time", "10", name)
	})
	podmanDo(t, podman, 60*time.Second, args...)

	testenv.EventuallyShow(t, 30*time.Second, func() bool {
		if state := podmanOut(t, podman, "inspect", "--format", "{{.State.Status}}", name); state != "running" {
			t.Fatalf("container %s: %s, not running", name, state)
		}
		resp, err := http.Get("http://" + admin + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, func() string { return "eird in the container to answer /healthz on " + admin })

	// The health check runs eird -healthcheck in the container: unhealthy
	// (503 no_lists) until a list is loaded, then healthy.
	if out, err := exec.Command(podman, "healthcheck", "run", name).CombinedOutput(); err == nil || !strings.Contains(string(out), "unhealthy") {
		t.Errorf("healthcheck before any list: %v %q, want unhealthy", err, out)
	}
	e := &eird{admin: admin}
	loadLists(t, e) // eirctl on the host, through the admin API
	testenv.Eventually(t, "the container's health check to pass", 20*time.Second, func() bool {
		return exec.Command(podman, "healthcheck", "run", name).Run() == nil
	})
	if st := podmanOut(t, podman, "inspect", "--format", "{{.State.Health.Status}}", name); st != "healthy" {
		t.Errorf("health status %q, want healthy", st)
	}

	imageAnswers(t, diam, n5gAddr)

	// The image's eirctl, from inside the container.
	out := podmanOut(t, podman, "exec", name, "/eirctl", "-server", "http://"+admin, "check", "49015420323751")
	if !strings.Contains(out, "GREYLISTED") {
		t.Errorf("eirctl check in the container:\n%s", out)
	}
	// The local copy of the lists is written to the volume, as user 65532.
	e.waitMetric(t, `eir_store_snapshot_writes_total{result="ok"}`, 1, 20*time.Second)
	if n := e.metric(t, `eir_store_snapshot_writes_total{result="error"}`); n > 0 {
		t.Errorf("%v failed writes of the local copy to /var/lib/eird", n)
	}

	// eird's user and group in the container (named by the image's
	// /etc/passwd and /etc/group) and, with a rootful podman, on the host.
	if top := strings.Fields(podmanOut(t, podman, "top", name, "user", "group")); !slices.Equal(top, []string{"USER", "GROUP", "eird", "eird"}) {
		t.Errorf("podman top %s user group: %q, want eird eird", name, top)
	}
	if os.Geteuid() == 0 {
		pid := podmanOut(t, podman, "inspect", "--format", "{{.State.Pid}}", name)
		status, err := os.ReadFile("/proc/" + pid + "/status")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Uid:\t65532\t65532\t65532\t65532\n", "Gid:\t65532\t65532\t65532\t65532\n"} {
			if !strings.Contains(string(status), want) {
				t.Errorf("eird (pid %s) does not run as 65532:65532: want %q in\n%s", pid, want, status)
			}
		}
	}
	imageContent(t, podman, name)
}

// buildImage runs make image with a tag of the test's own and returns it;
// the image is removed at the end of the test.
func buildImage(t *testing.T, podman string) string {
	t.Helper()
	repo := fmt.Sprintf("localhost/eird-e2e-%d", time.Now().UnixNano())
	version := "e2e-test"
	t.Cleanup(func() { podmanDo(t, podman, 60*time.Second, "rmi", "-f", repo+":"+version, repo+":latest") })
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "-C", "..", "image",
		"IMAGE="+repo, "VERSION="+version, "IMAGE_CONTEXT="+filepath.Join(t.TempDir(), "context"))
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	t.Logf("make image: %s", time.Since(start).Round(time.Second))
	image := repo + ":" + version

	var cfgs []struct {
		User        string
		Healthcheck struct{ Test []string }
		Config      struct {
			User       string
			Entrypoint []string
			Cmd        []string
			Volumes    map[string]any
			Labels     map[string]string
		}
	}
	if err := json.Unmarshal([]byte(podmanOut(t, podman, "image", "inspect", image)), &cfgs); err != nil || len(cfgs) != 1 {
		t.Fatalf("podman image inspect %s: %v (%d images)", image, err, len(cfgs))
	}
	cfg := cfgs[0]
	want := []string{"CMD", "/eird", "-config", "/etc/eird/eird.yaml", "-healthcheck"}
	if !slices.Equal(cfg.Healthcheck.Test, want) {
		t.Errorf("image health check %q, want %q (built with --format docker?)", cfg.Healthcheck.Test, want)
	}
	if cfg.Config.User != "65532:65532" || !slices.Equal(cfg.Config.Entrypoint, []string{"/eird"}) ||
		cfg.Config.Volumes["/var/lib/eird"] == nil || cfg.Config.Labels["org.opencontainers.image.version"] != version {
		t.Errorf("image config: %+v", cfg.Config)
	}
	// The binaries carry the version given to make.
	out := podmanOut(t, podman, append(slices.Clone(podmanRun), "--rm", image, "-version")...)
	if !strings.HasPrefix(out, "eird "+version+" (commit ") {
		t.Errorf("eird -version in the image: %q", out)
	}
	return image
}

// imageAnswers sends an ECR and an N5g-eir request to the container.
func imageAnswers(t *testing.T, diam, n5gAddr string) {
	t.Helper()
	c, err := s13client.Dial(ctxT(t), diam, s13client.Options{OriginHost: "mme1.image.test", OriginRealm: "image.test"})
	if err != nil {
		t.Fatalf("S13 to the container: %v", err)
	}
	defer c.Close()
	for imei, status := range map[string]int{"35209900176148": 1, "26053179311383": 0} {
		a, err := c.Check(ctxT(t), imei, "")
		if err != nil {
			t.Fatalf("ECR %s: %v", imei, err)
		}
		if rc, es := s13client.ResultCode(a.Msg), s13client.EquipmentStatus(a.Msg); rc != 2001 || es != status {
			t.Errorf("ECA for %s: Result-Code %d, Equipment-Status %d; want 2001, %d", imei, rc, es, status)
		}
	}
	c.Disconnect(ctxT(t))

	hc := h2c()
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("http://" + n5gAddr + "/n5g-eir-eic/v1/equipment-status?pei=imei-352099001761481")
	if err != nil {
		t.Fatalf("N5g-eir to the container: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 || strings.TrimSpace(string(body)) != `{"status":"BLACKLISTED"}` {
		t.Errorf("N5g-eir: %s %s %q, want 200 HTTP/2 BLACKLISTED", resp.Proto, resp.Status, body)
	}
}

// imageContent lists the container's files (podman export): eird and
// eirctl, the configuration, the CA certificates, passwd and group, and
// no shell or other system files.
func imageContent(t *testing.T, podman, name string) {
	t.Helper()
	cmd := exec.Command(podman, "export", name)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("podman export: %v\n%s", err, errb.String())
	}
	files := map[string]bool{}
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			files[strings.TrimPrefix(h.Name, "/")] = true
		}
	}
	want := []string{"eird", "eirctl", "etc/eird/eird.yaml", "etc/ssl/certs/ca-certificates.crt", "etc/passwd", "etc/group"}
	for _, f := range want {
		if !files[f] {
			t.Errorf("%s missing from the image", f)
		}
		delete(files, f)
	}
	for f := range files {
		// podman adds these at run time; the local copy is eird's.
		if strings.HasPrefix(f, "var/lib/eird/") || f == "etc/hosts" || f == "etc/resolv.conf" || f == "etc/hostname" || strings.HasPrefix(f, "run/") {
			continue
		}
		t.Errorf("unexpected file in the image: /%s", f)
	}
}

// TestComposeFile checks compose.yaml statically: podman-compose (which has
// no config command in Debian 12's version 1.0.3) translates it into podman
// commands with --dry-run, against a fake podman so that nothing is
// created; the commands and the file's structure are checked. The file is
// not run: no registry is reachable for the Redis image.
func TestComposeFile(t *testing.T) {
	compose := tool(t, "podman-compose", "podman-compose")
	dir := t.TempDir()
	fake := filepath.Join(dir, "podman")
	logPath := filepath.Join(dir, "calls")
	script := "#!/bin/sh\n[ \"$1\" = --version ] && { echo 'podman version 4.3.1'; exit 0; }\necho \"$*\" >> '" + logPath + "'\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, compose, "--podman-path", fake, "--dry-run", "-p", "eirtest", "-f", "../compose.yaml", "up", "-d").CombinedOutput()
	if err != nil {
		t.Fatalf("podman-compose --dry-run up: %v\n%s", err, out)
	}
	runs := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if _, rest, ok := strings.Cut(line, fake+" run --name=eirtest_"); ok {
			svc, _, _ := strings.Cut(rest, "_")
			runs[svc] = line
		}
	}
	for svc, wants := range map[string][]string{
		"redis": {"-v eirtest_redis-data:/data", "--healthcheck-command", "--appendonly yes", "docker.io/library/redis:7"},
		"eird": {"-e EIR_REDIS_ADDRESSES=redis:6379", "-v eirtest_eird-snapshot:/var/lib/eird", "-p 3868:3868", "-p 7777:7777",
			"--pull never", "--ulimit nofile=20000:20000", "localhost/eird:latest"},
	} {
		line, ok := runs[svc]
		if !ok {
			t.Errorf("no podman run for %s in:\n%s", svc, out)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(line, w) {
				t.Errorf("%s: %q missing from %s", svc, w, line)
			}
		}
	}
	// eird's health check is the image's: a compose one would run through
	// /bin/sh (podman-compose 1.0), which the image does not have.
	if strings.Contains(runs["eird"], "--healthcheck-command") {
		t.Errorf("eird gets a compose health check (run by /bin/sh, absent from the image): %s", runs["eird"])
	}
	if strings.Index(string(out), " run --name=eirtest_redis") > strings.Index(string(out), " run --name=eirtest_eird") {
		t.Errorf("eird started before redis:\n%s", out)
	}
	composeStructure(t)
}

// composeStructure checks what podman-compose 1.0 does not read or
// translate: depends_on's condition, and that every EIR_* variable names a
// configuration key (eird -print-keys).
func composeStructure(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile("../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			DependsOn   map[string]struct{ Condition string } `yaml:"depends_on"`
			Environment map[string]string
			Healthcheck *struct{ Test []string }
		}
		Volumes map[string]any
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	eird, redis := f.Services["eird"], f.Services["redis"]
	if eird.DependsOn["redis"].Condition != "service_healthy" || redis.Healthcheck == nil {
		t.Errorf("eird must wait for a healthy redis: depends_on %+v, redis health check %v", eird.DependsOn, redis.Healthcheck)
	}
	if _, ok := f.Volumes["redis-data"]; !ok {
		t.Errorf("no named volume redis-data: %v", f.Volumes)
	}
	keys, err := exec.Command(filepath.Join(binDir, "eird"), "-print-keys").Output()
	if err != nil {
		t.Fatal(err)
	}
	for name := range eird.Environment {
		if !slices.Contains(strings.Fields(string(keys)), name) {
			t.Errorf("compose.yaml: %s is no eird configuration key (eird -print-keys)", name)
		}
	}
}

// tool is the path of command, installed by scripts/deps.sh (make test
// runs it); the test fails when it is missing.
func tool(t *testing.T, command, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(command)
	if err != nil {
		t.Fatalf("%s not found (%v): install it with scripts/deps.sh %s (Debian package %s); make test does", command, err, command, pkg)
	}
	return p
}

// podmanDo runs podman with args within timeout and fails on an error.
func podmanDo(t *testing.T, podman string, timeout time.Duration, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, podman, args...).CombinedOutput(); err != nil {
		t.Errorf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// podmanOut runs podman with args and returns its standard output, trimmed.
func podmanOut(t *testing.T, podman string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errb bytes.Buffer
	cmd := exec.CommandContext(ctx, podman, args...)
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return strings.TrimSpace(string(out))
}

// freeTCPPorts returns n distinct loopback ports that were free a moment
// ago (held open together, so they differ).
func freeTCPPorts(t *testing.T, n int) []string {
	t.Helper()
	var ports []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	return ports
}
