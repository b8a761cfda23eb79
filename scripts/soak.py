#!/usr/bin/env python3
"""Traffic and reload roles of scripts/soak.sh (standard library only).

  soak.py echo PORT                        TCP echo server on 0.0.0.0:PORT
  soak.py keep ADDR PORT N STATUS          N long-lived connections to ADDR:PORT,
                                           one echo a second on each; a failed
                                           echo is a break
  soak.py flood ADDR PPS STATUS            UDP datagrams to ADDR, each from a new
                                           (source port, destination port) pair:
                                           one new flow per datagram
  soak.py reload POLICY PID METRICS PERIOD STATUS
                                           every PERIOD seconds write POLICY
                                           (valid and broken in turn), SIGHUP PID,
                                           wait for the metrics to show the new
                                           generation or one more refusal
  soak.py connect ADDR PORT                exit 0 if a TCP connection and one
                                           echo succeed within 3 s

Each long-running role rewrites its STATUS file (one line of key=value) at
least once a second and stops on SIGTERM.
"""
import os
import re
import signal
import socket
import socketserver
import sys
import threading
import time
import urllib.request

STOP = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: STOP.set())


def write_status(path, **kv):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(" ".join(f"{k}={v}" for k, v in kv.items()) + "\n")
    os.replace(tmp, path)


def log(msg):
    print(time.strftime("%H:%M:%S ") + msg, flush=True)


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        while True:
            data = s.recv(4096)
            if not data:
                return
            s.sendall(data)


def echo(port):
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.daemon_threads = True
    with socketserver.ThreadingTCPServer(("0.0.0.0", int(port)), Echo) as srv:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        STOP.wait()
        srv.shutdown()


def echo_once(s, msg):
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        chunk = s.recv(len(msg) - len(got))
        if not chunk:
            raise ConnectionError("closed by the peer")
        got += chunk
    if got != msg:
        raise ConnectionError(f"echo mismatch: {got!r}")


def keep(addr, port, n, status):
    conns = []
    for _ in range(int(n)):
        s = socket.create_connection((addr, int(port)), timeout=3)
        s.settimeout(3)
        conns.append(s)
    echoes, breaks, seq = 0, 0, 0
    write_status(status, up=len(conns), echoes=0, breaks=0)
    while not STOP.is_set():
        t0 = time.monotonic()
        for i, s in enumerate(conns):
            if s is None:
                continue
            seq += 1
            try:
                echo_once(s, b"soak %d %d\n" % (i, seq))
                echoes += 1
            except (OSError, ConnectionError) as e:
                breaks += 1
                log(f"BREAK {addr}:{port} connection {i}: {e}")
                s.close()
                conns[i] = None
        up = sum(1 for s in conns if s is not None)
        write_status(status, up=up, echoes=echoes, breaks=breaks)
        STOP.wait(max(0.0, 1.0 - (time.monotonic() - t0)))


def flood(addr, pps, status):
    pps = int(pps)
    sent, errors = 0, 0
    sock, dport = None, 65536
    tick = 0.01
    per_tick = max(1, int(pps * tick))
    next_t = time.monotonic()
    last_status = 0.0
    while not STOP.is_set():
        for _ in range(per_tick):
            if dport > 65535:
                # A new socket, so a new source port: every pair is new.
                if sock is not None:
                    sock.close()
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.bind(("0.0.0.0", 0))
                dport = 1024
            try:
                sock.sendto(b"flood", (addr, dport))
                sent += 1
            except OSError:
                errors += 1
            dport += 1
        next_t += tick
        now = time.monotonic()
        if now - last_status >= 1.0:
            last_status = now
            write_status(status, sent=sent, errors=errors)
        if next_t > now:
            time.sleep(next_t - now)
        elif now - next_t > 1.0:
            next_t = now  # too slow for the rate: do not try to catch up
    write_status(status, sent=sent, errors=errors)


def scrape(url):
    with urllib.request.urlopen(url, timeout=2) as r:
        text = r.read().decode()
    gen = re.search(r"^nsg_policy_generation (\S+)$", text, re.M)
    ref = re.search(r'^nsg_reloads_total\{result="refused"\} (\S+)$', text, re.M)
    return (int(float(gen.group(1))) if gen else 0, int(float(ref.group(1))) if ref else 0)


def variants(text):
    """The valid variant of step i, and the broken ones in turn."""
    line = "priority = 120\n"
    if line not in text:
        sys.exit("reload: no 'priority = 120' line in the policy")
    valid = [text, text.replace(line, "priority = 121\n")]
    broken = [
        ("syntax error", text + "\nthis is not = [valid\n"),
        ("unknown key", text.replace(line, line + 'colour = "red"\n')),
        ("priority out of range", text.replace(line, "priority = 5000\n")),
    ]
    return valid, broken


def reload(policy, pid, metrics, period, status):
    pid, period = int(pid), float(period)
    url = f"http://{metrics}/metrics"
    with open(policy) as f:
        valid, broken = variants(f.read())
    counts = dict(applied=0, refused=0, good_missed=0, broken_missed=0, wait_ms_max=0)
    gen, ref = scrape(url)
    step = 0
    while not STOP.is_set():
        t0 = time.monotonic()
        good = step % 2 == 0
        if good:
            what, text = "valid", valid[(step // 2 + 1) % 2]
        else:
            what, text = broken[(step // 2) % len(broken)]
        tmp = policy + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, policy)
        os.kill(pid, signal.SIGHUP)
        outcome = None
        while time.monotonic() - t0 < 10 and not STOP.is_set():
            g, r = scrape(url)
            if g > gen or r > ref:
                outcome = "applied" if g > gen else "refused"
                gen, ref = g, r
                break
            time.sleep(0.01)
        waited = int((time.monotonic() - t0) * 1000)
        counts["wait_ms_max"] = max(counts["wait_ms_max"], waited)
        if outcome is None:
            if STOP.is_set():
                break
            log(f"RELOAD step {step} ({what}): no new generation nor refusal in 10 s")
            counts["good_missed" if good else "broken_missed"] += 1
            gen, ref = scrape(url)
        elif (outcome == "applied") != good:
            log(f"RELOAD step {step} ({what}): {outcome}")
            counts["good_missed" if good else "broken_missed"] += 1
        else:
            counts[outcome] += 1
        step += 1
        write_status(status, **counts)
        STOP.wait(max(0.0, period - (time.monotonic() - t0)))
    write_status(status, **counts)


def connect(addr, port):
    try:
        with socket.create_connection((addr, int(port)), timeout=3) as s:
            s.settimeout(3)
            echo_once(s, b"hello\n")
    except (OSError, ConnectionError):
        sys.exit(1)


ROLES = {"echo": echo, "keep": keep, "flood": flood, "reload": reload, "connect": connect}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ROLES:
        sys.exit(__doc__)
    ROLES[sys.argv[1]](*sys.argv[2:])
