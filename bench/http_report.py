#!/usr/bin/env python3
"""Helper for bench/http.sh: free loopback ports, a sanity request, wrk output parsing,
and the final table + JSON report. Standard library only.

Subcommands (all used by http.sh; not meant to be called by hand):
  ports N [BASE]              print N free TCP ports on 127.0.0.1 from BASE (18000) up
  check PORT [N] [SCHEME]     send N (default 4) GET / to 127.0.0.1:PORT, each on its own
                              connection (SCHEME https: over TLS, certificate not verified);
                              exit 0 if every answer is 200 with an origin body, and print
                              which origins answered
  resume PORT                 over TLS: one request, then a new connection offering the
                              session (ticket) of the first; print "resumption accepted" or
                              "resumption refused"
  hold PORT N SECONDS         open N connections to 127.0.0.1:PORT, make one keep-alive
                              request on each, print "held N", keep them open SECONDS
  report RECORDS OUT META     read the run records (JSON lines written by http.sh), parse
                              each wrk output, print the table and ratios, write OUT (JSON);
                              META is a JSON file of run metadata
"""
import http.client
import json
import re
import socket
import sys

# Order of rows in the table.
TARGETS = ["haproxy", "haproxy-splice", "nginx", "rproxy", "rproxy-splice", "direct"]
SCENARIOS = ["keep-alive", "close"]

# Rows during which unrelated processes kept at least this many CPUs busy get a note.
OTHER_LOAD_NOTE = 0.15

BODY_RE = re.compile(rb"^origin (\d+): fixed-size response body")


def free_ports(n: int, base: int) -> list[int]:
    """N ports from BASE upwards that are free on 127.0.0.1. They sit below the kernel's
    ephemeral range (32768+ by default), so wrk's and the proxies' outgoing connections
    never hold them."""
    ports = []
    port = base
    while len(ports) < n and port < 65536:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
            ports.append(port)
        except OSError:
            pass
        finally:
            s.close()
        port += 1
    return ports


def check(port: int, n: int, scheme: str = "http") -> int:
    seen = []
    for _ in range(n):
        try:
            if scheme in ("https", "tls"):
                import ssl
                ctx = ssl._create_unverified_context()  # the bench's self-signed certificate
                c = http.client.HTTPSConnection("127.0.0.1", port, timeout=3, context=ctx)
            else:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
            c.request("GET", "/", headers={"Connection": "close"})
            r = c.getresponse()
            body = r.read()
            c.close()
        except OSError as e:
            print(f"request failed: {e}")
            return 1
        m = BODY_RE.match(body)
        if r.status != 200 or not m or len(body) != 100:
            print(f"unexpected answer: HTTP {r.status}, {len(body)} body bytes: {body[:60]!r}")
            return 1
        seen.append(int(m.group(1)))
    print("origins answering: " + " ".join(str(s) for s in seen))
    return 0


def resume(port: int) -> int:
    """Whether the server at PORT resumes a TLS session: the figures of BENCH_MODE=
    tls-handshake are for full handshakes only, and wrk does resume when offered tickets."""
    import ssl
    ctx = ssl._create_unverified_context()  # the bench's self-signed certificate
    req = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    session = None
    reused = []
    try:
        for _ in range(2):
            raw = socket.create_connection(("127.0.0.1", port), timeout=3)
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session) as s:
                s.sendall(req)
                while s.recv(4096):  # TLS 1.3 tickets arrive after the handshake
                    pass
                reused.append(s.session_reused)
                session = s.session
    except OSError as e:
        print(f"resumption probe failed: {e}")
        return 1
    print("resumption accepted" if reused[-1] else "resumption refused")
    return 0


def hold(port: int, n: int, seconds: float) -> int:
    """N idle keep-alive connections, each after one complete request: what a proxy keeps
    per connection between requests (buffers, session state, pooled server side)."""
    import time
    conns = []
    req = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(req)
            conns.append(s)
        for s in conns:
            buf = b""
            while b"\r\n\r\n" not in buf or len(buf.split(b"\r\n\r\n", 1)[1]) < 100:
                d = s.recv(4096)
                if not d:
                    raise OSError("connection closed")
                buf += d
    except OSError as e:
        print(f"hold failed after {len(conns)} connections: {e}", flush=True)
        return 1
    print(f"held {n}", flush=True)
    time.sleep(seconds)
    for s in conns:
        s.close()
    return 0


# ---- wrk output -------------------------------------------------------------------------

UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def to_ms(text: str) -> float | None:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    return float(m.group(1)) * UNITS_MS[m.group(2)] if m else None


def parse_wrk(text: str) -> dict:
    out: dict = {}
    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", text, re.M)
    if m:
        out["requests"] = int(m.group(1))
        out["duration_s"] = to_ms(m.group(2) + m.group(3)) / 1e3
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if m:
        out["rps"] = float(m.group(1))
    dist = re.search(r"Latency Distribution\n((?:\s+\d+%\s+\S+\n)+)", text)
    if dist:
        for pct, val in re.findall(r"(\d+)%\s+(\S+)", dist.group(1)):
            out[f"p{pct}_ms"] = to_ms(val)
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["socket_errors"] = dict(zip(["connect", "read", "write", "timeout"], map(int, m.groups())))
    m = re.search(r"^Transfer/sec:\s+([\d.]+)([KMG]?B)", text, re.M)
    if m:
        out["mib_s"] = float(m.group(1)) * {"B": 1 / 1048576, "KB": 1 / 1024, "MB": 1, "GB": 1024}[m.group(2)]
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        out["non_2xx_3xx"] = int(m.group(1))
    return out


# ---- report -----------------------------------------------------------------------------


def build(rec: dict) -> dict:
    """One table row from one record of http.sh."""
    row = {k: rec.get(k) for k in ("target", "scenario", "status", "detail")}
    row["origin_checked"] = rec.get("origin_checked")
    if rec.get("status") != "ok":
        return row
    try:
        with open(rec["wrk_output"], encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        row.update(status="error", detail=f"no wrk output: {e}")
        return row
    w = parse_wrk(text)
    row["wrk"] = w
    row["wrk_command"] = rec.get("wrk_command")
    if "requests" not in w or "rps" not in w:
        row.update(status="error", detail="could not parse wrk output")
        return row
    reqs, hz = w["requests"], rec["clk_tck"]
    row["requests"] = reqs
    row["rps"] = w["rps"]
    row["p50_ms"] = w.get("p50_ms")
    row["p99_ms"] = w.get("p99_ms")
    row["cpu_s"] = rec["cpu_ticks"] / hz
    row["cpu_us_per_req"] = rec["cpu_ticks"] / hz * 1e6 / reqs if reqs else None
    if w.get("mib_s") and w.get("duration_s"):
        row["mib_s"] = w["mib_s"]
        mib = w["mib_s"] * w["duration_s"]
        row["cpu_ms_per_mib"] = rec["cpu_ticks"] / hz * 1e3 / mib if mib else None
    if rec.get("origin_cpu_ticks") is not None and reqs:
        row["origin_cpu_us_per_req"] = rec["origin_cpu_ticks"] / hz * 1e6 / reqs
    if rec.get("rss_idle_kib") is not None and rec.get("rss_peak_kib") is not None:
        row["rss_idle_kib"] = rec["rss_idle_kib"]
        row["rss_peak_kib"] = rec["rss_peak_kib"]
        row["kib_per_conn"] = (rec["rss_peak_kib"] - rec["rss_idle_kib"]) / rec["connections"]
    if rec.get("wrk_cpu_ms") is not None:
        row["wrk_cpu_s"] = rec["wrk_cpu_ms"] / 1e3
    if rec.get("other_cpu_ms") is not None and w.get("duration_s"):
        # average number of CPUs kept busy by unrelated processes during the run
        row["other_cpus"] = max(rec["other_cpu_ms"], 0) / 1e3 / w["duration_s"]
    errs = w.get("socket_errors", {})
    notes = [f"{k} errors: {v}" for k, v in errs.items() if v]
    if w.get("non_2xx_3xx"):
        notes.append(f"non-2xx/3xx: {w['non_2xx_3xx']}")
    if "resumption accepted" in (row.get("origin_checked") or ""):
        notes.append("resumes TLS sessions")
    if row.get("other_cpus", 0) >= OTHER_LOAD_NOTE:
        notes.append(f"other load {row['other_cpus']:.2f} CPU")
    if notes:
        row["detail"] = "; ".join(notes)
    return row


def fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def ratio(a, b):
    return a / b if a is not None and b else None


def report(records_path: str, out_path: str, meta_path: str) -> int:
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
    with open(records_path, encoding="utf-8") as f:
        recs = [json.loads(line) for line in f if line.strip()]
    holds = {r["target"]: r for r in recs if r.get("scenario") == "hold"}
    rows = [build(r) for r in recs if r.get("scenario") != "hold"]
    for r in rows:
        h = holds.get(r["target"])
        if r["scenario"] == "keep-alive" and h and h.get("status") == "ok":
            r["idle_conns"] = h["conns"]
            r["kib_per_idle_conn"] = (h["rss_held_kib"] - h["rss_before_kib"]) / h["conns"]
        elif r["scenario"] == "keep-alive" and h:
            r["idle_conns_detail"] = h.get("detail")
    rows.sort(key=lambda r: (TARGETS.index(r["target"]) if r["target"] in TARGETS else 99,
                             SCENARIOS.index(r["scenario"]) if r["scenario"] in SCENARIOS else 99))

    mode = meta.get("mode", "http")
    if mode == "tls-handshake":
        print("TLS handshakes: every request on a new connection (Connection: close) with a full "
              "handshake; req/s = handshakes/s, CPU us/req = proxy CPU per handshake + request")
    elif mode == "https":
        print("HTTPS keep-alive: requests over established TLS connections")
    head = (f"{'target':<14} {'scenario':<11} {'req/s':>10} {'p99 ms':>8} {'CPU us/req':>11} "
            f"{'KiB/conn':>9} {'KiB/idle':>9}  note")
    print(head)
    print("-" * len(head))
    for r in rows:
        label = "origin" if r["target"] == "direct" else ""
        if r["status"] != "ok":
            note = r["status"] + (f" ({r['detail']})" if r.get("detail") else "")
            print(f"{r['target']:<14} {r['scenario']:<11} {'-':>10} {'-':>8} {'-':>11} {'-':>9} {'-':>9}  {note}")
            continue
        note = "; ".join(x for x in [label and "CPU is the origin's", r.get("detail") or ""] if x)
        print(f"{r['target']:<14} {r['scenario']:<11} {fmt(r['rps'], ',.0f'):>10} "
              f"{fmt(r['p99_ms'], '.2f'):>8} {fmt(r['cpu_us_per_req'], '.1f'):>11} "
              f"{fmt(r.get('kib_per_conn'), '.1f'):>9} {fmt(r.get('kib_per_idle_conn'), '.1f'):>9}  {note}")

    # Ratios of rproxy against the two references, per scenario.
    by = {(r["target"], r["scenario"]): r for r in rows if r["status"] == "ok"}
    ratios = []
    print()
    print("ratios (req/s: higher is better; CPU us/req: lower is better)")
    ran = {r["target"] for r in rows}
    scenarios = [sc for sc in SCENARIOS if any(r["scenario"] == sc for r in rows)]
    # rproxy against each reference; the "-splice" variants against the same with splicing,
    # and rproxy with splicing against its own copy loop.
    pairs = [("rproxy", "haproxy"), ("rproxy", "nginx"), ("rproxy-splice", "haproxy-splice"),
             ("rproxy-splice", "haproxy"), ("rproxy-splice", "rproxy"), ("haproxy-splice", "haproxy")]
    pairs = [(a, b) for a, b in pairs if a in ran and b in ran]
    for mine, ref in pairs:
        for sc in scenarios:
            a, b = by.get((mine, sc)), by.get((ref, sc))
            rr = ratio(a and a["rps"], b and b["rps"])
            rc = ratio(a and a["cpu_us_per_req"], b and b["cpu_us_per_req"])
            ratios.append({"target": mine, "against": ref, "scenario": sc, "rps_ratio": rr,
                           "cpu_per_req_ratio": rc})
            lacking = [n for n, x in ((mine, a), (ref, b)) if not x]
            why = f"  (no result for {' and '.join(lacking)})" if lacking else ""
            print(f"  {mine + '/' + ref:<29} {sc:<11} req/s x{fmt(rr, '.2f'):<6} CPU/req x{fmt(rc, '.2f')}{why}")
        a, b = by.get((mine, "keep-alive")), by.get((ref, "keep-alive"))
        rm = ratio(a and a.get("kib_per_idle_conn"), b and b.get("kib_per_idle_conn"))
        if rm is not None:
            ratios.append({"target": mine, "against": ref, "scenario": "idle-conns",
                           "kib_per_idle_conn_ratio": rm})
            print(f"  {mine + '/' + ref:<29} {'idle conns':<11} memory per idle connection x{fmt(rm, '.2f')}")

    for r in rows:
        for k, v in r.items():
            if isinstance(v, float):
                r[k] = round(v, 3)
    for r in ratios:
        for k, v in r.items():
            if isinstance(v, float):
                r[k] = round(v, 3)
    doc = {"meta": meta, "results": rows, "ratios": ratios}
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    if meta.get("path", "/") != "/":
        print()
        print(f"throughput ({meta.get('path')}, mode {meta.get('mode', 'http')}): MiB/s and proxy CPU ms per MiB")
        for r in rows:
            if r["status"] == "ok":
                print(f"  {r['target']:<14} {r['scenario']:<11} {fmt(r.get('mib_s'), ',.0f'):>8} MiB/s "
                      f"{fmt(r.get('cpu_ms_per_mib'), '.2f'):>7} ms/MiB")
        tpairs = pairs + [(a, "direct") for a in ("rproxy", "rproxy-splice") if a in ran and "direct" in ran]
        for mine, ref in tpairs:
            for sc in scenarios:
                a, b = by.get((mine, sc)), by.get((ref, sc))
                rt = ratio(a and a.get("mib_s"), b and b.get("mib_s"))
                rc = ratio(a and a.get("cpu_ms_per_mib"), b and b.get("cpu_ms_per_mib"))
                ratios.append({"target": mine, "against": ref, "scenario": sc, "mib_s_ratio": rt,
                               "cpu_per_mib_ratio": rc})
                print(f"  {mine + '/' + ref:<29} {sc:<11} MiB/s x{fmt(rt, '.2f'):<6} CPU/MiB x{fmt(rc, '.2f')}")
        for r in ratios:
            for k, v in r.items():
                if isinstance(v, float):
                    r[k] = round(v, 3)
        doc["ratios"] = ratios
        with open(out_path, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
    print()
    print(f"JSON written to {out_path}")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "ports":
        base = int(argv[2]) if len(argv) > 2 else 18000
        print("\n".join(map(str, free_ports(int(argv[1]), base))))
        return 0
    if len(argv) >= 2 and argv[0] == "check":
        return check(int(argv[1]), int(argv[2]) if len(argv) > 2 else 4,
                     argv[3] if len(argv) > 3 else "http")
    if len(argv) == 2 and argv[0] == "resume":
        return resume(int(argv[1]))
    if len(argv) == 4 and argv[0] == "hold":
        return hold(int(argv[1]), int(argv[2]), float(argv[3]))
    if len(argv) == 4 and argv[0] == "report":
        return report(*argv[1:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
