#!/usr/bin/env python3
"""A real DNS server (dnslib) for the dns check's tests, answering over UDP on 127.0.0.1.

It binds port 0 and prints the port it got on the first line of stdout, so a test never
races another process for a port. What it answers is given on the command line:

  --record NAME TYPE VALUE   an answer (A, AAAA, CNAME, MX "10 mail.x.", TXT); repeatable
  --servfail NAME            SERVFAIL for this name
  --delay NAME SECONDS       answer this name only after SECONDS (other queries go on)
  --silent NAME              never answer this name (a server that is up but lost the query)

Any other name is NXDOMAIN. Names are compared without the final dot, case-insensitively.

usage: dns_server.py [--record ...] [--servfail ...] [--delay ...] [--silent ...]
"""

import argparse
import socket
import sys
import threading
import time

from dnslib import AAAA, CNAME, MX, QTYPE, RCODE, RR, TXT, A, DNSRecord


def key(name):
    return str(name).rstrip(".").lower()


def rdata(kind, value):
    if kind == "A":
        return A(value)
    if kind == "AAAA":
        return AAAA(value)
    if kind == "CNAME":
        return CNAME(value)
    if kind == "MX":
        preference, exchange = value.split(" ", 1)
        return MX(exchange, int(preference))
    if kind == "TXT":
        return TXT(value)
    raise SystemExit(f"unknown record type {kind}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", nargs=3, action="append", default=[])
    parser.add_argument("--servfail", action="append", default=[])
    parser.add_argument("--delay", nargs=2, action="append", default=[])
    parser.add_argument("--silent", action="append", default=[])
    args = parser.parse_args()
    records = {}
    for name, kind, value in args.record:
        records.setdefault((key(name), kind.upper()), []).append(rdata(kind.upper(), value))
    names = {name for name, _ in records}
    servfail = {key(n) for n in args.servfail}
    delays = {key(n): float(s) for n, s in args.delay}
    silent = {key(n) for n in args.silent}

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)

    def answer(data, peer):
        try:
            request = DNSRecord.parse(data)
        except Exception:  # not DNS: a real server drops it too
            return
        qname = key(request.q.qname)
        qtype = QTYPE[request.q.qtype]
        if qname in silent:
            return
        time.sleep(delays.get(qname, 0))
        reply = request.reply()
        if qname in servfail:
            reply.header.rcode = RCODE.SERVFAIL
        elif qname not in names:
            reply.header.rcode = RCODE.NXDOMAIN
        else:
            for data in records.get((qname, qtype), []):
                reply.add_answer(RR(request.q.qname, getattr(QTYPE, qtype), rdata=data, ttl=60))
        sock.sendto(reply.pack(), peer)

    while True:
        data, peer = sock.recvfrom(4096)
        threading.Thread(target=answer, args=(data, peer), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
