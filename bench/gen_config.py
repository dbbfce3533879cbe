#!/usr/bin/env python3
"""Writes the configuration that benches/config_parse.rs generates in memory, so the same
text can be timed with other tools (for example `haproxy -c -f`).

Usage: bench/gen_config.py [BACKENDS [SERVERS_PER_BACKEND]] > /tmp/big.cfg
Defaults: 1000 backends x 15 servers (20,015 lines).
"""
import sys


def generate(backends: int, servers: int) -> str:
    out = [
        "global",
        "    log stdout format raw local0",
        "    maxconn 50000",
        "",
        "defaults",
        "    mode http",
        "    log global",
        "    option httplog",
        "    timeout connect 5s",
        "    timeout client 30s",
        "    timeout server 30s",
        "",
        "frontend www",
        "    bind 127.0.0.1:8080",
    ]
    out += [f"    acl host_{n} hdr(host) -i h{n}.example.com" for n in range(backends)]
    out += [f"    use_backend be_{n} if host_{n}" for n in range(backends)]
    out.append("    default_backend be_0")
    port = 10_000
    for n in range(backends):
        out += [f"backend be_{n}", "    balance roundrobin", "    option httpchk GET /health"]
        for i in range(servers):
            out.append(f"    server s{i} 127.0.0.1:{port} check inter 2s rise 2 fall 3 weight 10")
            port += 1
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    sys.stdout.write(generate(*(args + [1000, 15][len(args):])))
