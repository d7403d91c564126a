#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""--stats=INTERVAL and --metrics=ADDR:PORT as a user meets them: udp-echo
runs with both (scheduler from KEEL_SCHED, KEEL_WORKERS), echoes datagrams
on loopback, and its metrics are fetched with real HTTP clients (urllib,
and curl when there is one), parsed with prometheus_client's parser and
checked against the text format's rules; the counts must be the datagrams
sent. Every wait is bounded; none is a fixed sleep.

usage: test_metrics.py UDP-ECHO
"""
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

WAIT = 20.0  # bound on any wait: a loaded 2-core machine
N = 200      # datagrams echoed
NAME = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*$')
LABEL = re.compile(r'^[a-zA-Z_][a-zA-Z0-9_]*$')


def fail(msg):
    print('FAIL:', msg, file=sys.stderr)
    sys.exit(1)


class Proc:
    """The server, with its stdout and stderr read as they come."""

    def __init__(self, argv):
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.text = {self.p.stdout.fileno(): b'', self.p.stderr.fileno(): b''}
        self.open = set(self.text)

    def out(self):
        return self.text[self.p.stdout.fileno()].decode(errors='replace')

    def err(self):
        return self.text[self.p.stderr.fileno()].decode(errors='replace')

    def pump(self, timeout):
        if not self.open:
            time.sleep(timeout)  # both closed: the caller polls the exit
            return False
        r, _, _ = select.select(list(self.open), [], [], timeout)
        for f in r:
            data = os.read(f, 65536)
            if data:
                self.text[f] += data
            else:
                self.open.discard(f)
        return bool(r)

    def wait_for(self, what, pattern):
        end = time.monotonic() + WAIT
        while not re.search(pattern, what()):
            if time.monotonic() > end:
                fail('no %r in:\n%s\n%s' % (pattern, self.out(), self.err()))
            if not self.pump(0.1) and self.p.poll() is not None:
                if not re.search(pattern, what()):
                    fail('exited %d before %r:\n%s' % (self.p.returncode, pattern, self.err()))


def check_rules(text):
    """The text format's rules that a lenient parser lets pass."""
    typed, seen, current = {}, set(), None
    for line in text.split('\n'):
        if not line:
            continue
        if line.startswith('# HELP ') or line.startswith('# TYPE '):
            parts = line.split(' ', 3)
            if len(parts) < 4 or not NAME.match(parts[2]):
                fail('bad comment line %r' % line)
            if line.startswith('# TYPE '):
                if parts[2] in typed:
                    fail('TYPE twice for %s' % parts[2])
                if parts[3] not in ('counter', 'gauge'):
                    fail('type %r' % parts[3])
                if parts[3] == 'counter' and not parts[2].endswith('_total'):
                    fail('counter %s does not end in _total' % parts[2])
                typed[parts[2]] = parts[3]
                current = parts[2]
            continue
        if line.startswith('#'):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$', line)
        if not m:
            fail('bad sample line %r' % line)
        name, labels, value = m.groups()
        if name != current:
            fail('sample %s outside its family (after TYPE %s)' % (name, current))
        for pair in (labels or '{}')[1:-1].split(','):
            if pair and not (LABEL.match(pair.split('=', 1)[0]) and
                             re.match(r'^"([^"\\\n]|\\.)*"$', pair.split('=', 1)[1])):
                fail('bad label %r in %r' % (pair, line))
        if (name, labels) in seen:
            fail('sample twice: %r' % line)
        seen.add((name, labels))
        v = float(value)
        if typed[name] == 'counter' and v < 0:
            fail('negative counter %r' % line)
    if not typed:
        fail('no families')


def samples(text, name):
    found = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name:
                found[tuple(sorted(s.labels.items()))] = s.value
    return found


def fetch(url):
    with urllib.request.urlopen(url, timeout=WAIT) as r:
        if r.status != 200:
            fail('status %d' % r.status)
        ctype = r.headers.get('Content-Type', '')
        if not ctype.startswith('text/plain') or 'version=0.0.4' not in ctype:
            fail('Content-Type %r' % ctype)
        return r.read().decode()


def main():
    echo = sys.argv[1]
    sched = os.environ.get('KEEL_SCHED', 'local')
    workers = os.environ.get('KEEL_WORKERS', '1')
    srv = Proc([echo, '--sched=' + sched, '--workers=' + workers, '--stats=100ms',
                '--stats-workers', '--metrics=127.0.0.1:0', '127.0.0.1:0'])
    try:
        srv.wait_for(srv.err, r'metrics at http://127\.0\.0\.1:\d+/metrics')
        url = re.search(r'(http://127\.0\.0\.1:\d+/metrics)', srv.err()).group(1)
        srv.wait_for(srv.out, r'Listening on 127\.0\.0\.1:\d+')
        port = int(re.search(r'Listening on 127\.0\.0\.1:(\d+)', srv.out()).group(1))

        before = fetch(url)
        check_rules(before)
        rx0 = sum(samples(before, 'keel_driver_rx_packets_total').values())
        if rx0 != 0:
            fail('rx before any datagram: %s' % rx0)

        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(WAIT)
        for i in range(N):
            msg = b'ping %d' % i
            s.sendto(msg, ('127.0.0.1', port))
            if s.recv(100) != msg:
                fail('echo %d' % i)

        # The workers count a datagram as sent once the send returned:
        # the scrape may come a moment earlier, so wait (bounded).
        end = time.monotonic() + WAIT
        while True:
            text = fetch(url)
            rx = samples(text, 'keel_driver_rx_packets_total')
            tx = samples(text, 'keel_driver_tx_packets_total')
            if sum(tx.values()) >= N or time.monotonic() > end:
                break
        check_rules(text)
        if sum(rx.values()) != N or sum(tx.values()) != N:
            fail('rx %s tx %s, sent %d' % (rx, tx, N))
        if len(rx) != int(workers):
            fail('rx_packets for %d workers, not %s: %s' % (len(rx), workers, rx))
        # The program's task, a serving loop per worker (keel_udp_serve)
        # and the service's own waiter: never fewer, never more.
        live = samples(text, 'keel_tasks_live')
        if list(live.values()) != [2.0 + int(workers)]:
            fail('tasks_live %s (main, %s serving loops, the service)' % (live, workers))
        polls = samples(text, 'keel_worker_polls_total')
        if sum(polls.values()) < 1:
            fail('polls %s' % polls)

        if shutil.which('curl'):
            out = subprocess.run(['curl', '-sS', '--max-time', str(int(WAIT)), '-o', '-',
                                  '-w', '%{http_code}', url], capture_output=True, text=True,
                                 timeout=WAIT + 5)
            if out.returncode != 0 or not out.stdout.endswith('200'):
                fail('curl: %s %s' % (out.returncode, out.stderr))
            check_rules(out.stdout[:-3])
        try:
            urllib.request.urlopen(url.replace('/metrics', '/nothing'), timeout=WAIT)
            fail('/nothing answered')
        except urllib.error.HTTPError as e:
            if e.code != 404:
                fail('/nothing: %d' % e.code)

        # One line per interval, with the datagrams in it.
        srv.wait_for(srv.err, r'keel: stats: rx=[1-9]\d*/s tx=[1-9]\d*/s rx_truncated=0/s')
        srv.wait_for(srv.err, r'keel: stats:   worker 0: rx=\d+/s')
    finally:
        if srv.p.poll() is None:
            srv.p.send_signal(signal.SIGINT)
    end = time.monotonic() + WAIT
    while srv.p.poll() is None or srv.open:
        if time.monotonic() > end:
            srv.p.kill()
            fail('did not stop on SIGINT')
        srv.pump(0.1)
    err = srv.err()
    if srv.p.returncode != 0 or 'ThreadSanitizer' in err or 'ERROR: AddressSanitizer' in err:
        fail('exit %d:\n%s' % (srv.p.returncode, err))
    # The summary at exit: each worker and its driver, final counts.
    got = sum(int(x) for x in re.findall(r'\n    kernel: rx_packets=(\d+)', err))
    if got != N or 'tasks_live=' not in err:
        fail('summary says rx %d:\n%s' % (got, err))
    print('ok: %d datagrams, %d families' % (N, len(list(text_string_to_metric_families(text)))))


if __name__ == '__main__':
    main()
