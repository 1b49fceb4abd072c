"""The k8s-cockroach rule set on the lab's enforced security groups, probed with real TCP.

Two runs, side by side, both ``interop run --dry-run --keep`` (teardown skipped, so the servers
stay up to be probed): the *run* over two clouds (A, B: the stack's full dry run) and an
*outsider* on a third cloud (C: provisioning only), which is not in the run and so in no peer
list. A listener on CockroachDB's SQL port 26257 and its HTTP port 8080 on A's first server is
then probed from each source a rule can name, and the answer must be what ``RULES`` says:

- ``harness``: this machine (the address the security group lists),
- ``group``: A's second server, to the first's private address,
- ``peers``: B's first server, to A's public address,
- and C's server, which no rule names: it must not get through. A listener of our own on the
  harness address, reached from C's server, shows that C has a way out, so what stops it is
  the security group.

The rules themselves (the record's and, peer rules included, the API's) open neither port to
the world. Both runs are cleaned up with ``interop cleanup --run-id`` whatever happened, and
nothing may be left. The lab's last three clouds are used (lab4-6 on a 6-cloud lab), or
``$INTEROP_K8S_RULES_CLOUDS`` (A,B,C).

    interop lab up --clouds 6; pytest tests/stacks/k8s_cockroach/test_rules_lab.py -m lab
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shlex
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import procs
import pytest
import yaml
from provision.test_lab_provision import leftovers

from harness.provision.ssh import SshTarget, ssh_command
from harness.record import RunDir, new_run_id, read_events
from harness.stacks.k8s_cockroach.stack import RULES
from harness.waiting import wait_for
from interop_lab import LabInfo

# A run took ~55 s (the outsider ~30 s, side by side), cleanup ~15 s: the test ~100 s. Every
# bound below is well inside the test's own timeout, so a stuck step fails naming itself and
# the finally block still cleans up.
RUN_TIMEOUT = 180
CLEANUP_TIMEOUT = 150
pytestmark = [pytest.mark.lab, pytest.mark.k8s, pytest.mark.timeout(RUN_TIMEOUT + CLEANUP_TIMEOUT + 120)]

PHASE_TIMEOUTS = {"servers": 120, "peers": 120, "ssh-ready": 90, "configure": 120, "deploy": 90, "teardown": 120}
PROVISION = ("identity", "keypair", "network", "security-groups", "servers", "floating-ips", "ssh-ready")
PORTS = (26257, 8080)  # CockroachDB's SQL and HTTP ports
LISTEN_S = 90  # the listener's own end (coreutils timeout): it outlives the probes, never the test
PROBE_S = 4  # a dropped SYN shows as this timeout; a server's refusal comes at once
SSH_S = PROBE_S + 15  # an ssh round trip carrying one probe
SOURCES = ("harness", "group", "peers", "outside")

LISTENER = """
import selectors, socket, sys
token, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
sel = selectors.DefaultSelector()
for port in ports:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(16)
    sel.register(s, selectors.EVENT_READ, port)
while True:
    for key, _ in sel.select():
        conn, _ = key.fileobj.accept()
        conn.sendall(f"interop-rules {token} {key.data}\\n".encode())
        conn.close()
"""


def admitted(port: int, source: str) -> bool:
    """What the stack's rule set says about a TCP connection to ``port`` from ``source``."""
    return any(r.protocol == "tcp" and r.ports is not None and r.ports[0] <= port <= r.ports[1]
               and source in r.sources for r in RULES)


@dataclass
class Run:
    """One ``interop run --keep`` of this test: where its record and key are, its clouds' facts."""

    run_id: str
    reports: Path
    clouds: list[str]
    done: subprocess.CompletedProcess[str] | None = None

    @property
    def run_dir(self) -> Path:
        return self.reports / self.run_id

    @property
    def key(self) -> Path:
        return RunDir(self.reports, self.run_id).private_path() / "id_ed25519"

    def ends(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {(e["cloud"], e["phase"]): e for e in read_events(self.run_dir / "events.jsonl")
                if e["type"] == "phase-end"}

    def addresses(self, cloud: str) -> list[dict[str, str]]:
        """The cloud's servers in name order: name, fixed_ip, address (floating)."""
        return sorted(self.ends()[(cloud, "floating-ips")]["details"]["addresses"], key=lambda a: a["name"])

    def ssh(self, host: str, command: str, *, what: str, timeout: float = SSH_S) -> subprocess.CompletedProcess[str]:
        argv = ssh_command(SshTarget(host, host), self.key, self.key.parent / "known_hosts", command=command)
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            pytest.fail(f"ssh to {host} for {what} did not return within {timeout:.0f} s")


@pytest.fixture(scope="module")
def lab(lab_info: LabInfo) -> Iterator[dict[str, Any]]:
    from harness.clouds import CloudsConfig

    config = CloudsConfig.load(str(lab_info.clouds_yaml))
    base = yaml.safe_load(Path(lab_info.challenge_yaml).read_text())
    wanted = os.environ.get("INTEROP_K8S_RULES_CLOUDS")
    names = [c.strip() for c in wanted.split(",")] if wanted else list(base["clouds"])[-3:]
    if len(names) != 3:
        pytest.skip(f"the rules test wants 3 lab clouds (two in the run, one outside), it has {names}")
    conns = {}
    for name in names:
        conn = config.connect(name, api_timeout=10)
        try:
            conn.authorize()
        except Exception as exc:
            pytest.skip(f"the lab does not answer ({name}: {type(exc).__name__}: {str(exc)[:120]})")
        conns[name] = conn
    yield {"conns": conns, "clouds_yaml": str(lab_info.clouds_yaml), "challenge": base, "names": names}
    for conn in conns.values():
        conn.close()


def new_run(lab: dict[str, Any], tmp_path: Path, clouds: list[str]) -> Run:
    """A run of ``clouds`` with its id and challenge file, not started: cleanup knows it from now on."""
    run = Run(new_run_id(), tmp_path / "reports", clouds)
    doc = {**lab["challenge"], "stack": "k8s-cockroach", "name": f"k8s-cockroach rules ({', '.join(clouds)})",
           "clouds": {c: lab["challenge"]["clouds"].get(c) or {} for c in clouds},
           "timeouts": {**lab["challenge"].get("timeouts", {}), **PHASE_TIMEOUTS}}
    (tmp_path / f"challenge-{run.run_id}.yaml").write_text(yaml.safe_dump(doc))
    return run


def execute(lab: dict[str, Any], tmp_path: Path, run: Run, *pytest_args: str) -> Run:
    """``interop run --dry-run --keep``; returns when it has ended."""
    run.done = procs.interop("run", "--challenge", str(tmp_path / f"challenge-{run.run_id}.yaml"),
                             "--reports-dir", str(run.reports), "--run-id", run.run_id, "--dry-run", "--keep",
                             "--", *pytest_args, timeout=RUN_TIMEOUT, env={"OS_CLIENT_CONFIG_FILE": lab["clouds_yaml"]})
    return run


def both(*calls: Callable[[], Any]) -> list[Any]:
    """The calls side by side; every one is waited for before the first error is raised."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
    return [f.result() for f in futures]


def harness_probe(host: str, port: int) -> str:
    """'reached <banner>', 'refused' or 'timed out': a TCP connection from this machine."""
    try:
        with socket.create_connection((host, port), timeout=PROBE_S) as conn:
            return "reached " + conn.recv(128).decode(errors="replace").strip()
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timed out"


def server_probe(run: Run, via: str, host: str, port: int) -> str:
    """The same, from the server at ``via``: bash's /dev/tcp under coreutils timeout."""
    command = (f"timeout {PROBE_S} bash -c 'exec 3<>/dev/tcp/{host}/{port} && head -c 128 <&3'; "
               'echo "rc=$?"')
    done = run.ssh(via, command, what=f"a probe of {host}:{port}")
    out = done.stdout.strip().splitlines()
    rc = out[-1] if out and out[-1].startswith("rc=") else f"ssh exit {done.returncode}: {done.stderr.strip()[-200:]}"
    if rc == "rc=0":
        return "reached " + " ".join(out[:-1]).strip()
    if rc == "rc=124":
        return "timed out"
    if "Connection refused" in done.stderr:
        return "refused"
    return f"failed ({rc}; {done.stderr.strip()[-200:]})"


@dataclass
class Listener:
    """Ours on a server: started over ssh, its pid kept to stop it; it ends by itself anyway."""

    run: Run
    host: str
    token: str
    pid: str = ""

    def start(self) -> None:
        argv = " ".join(shlex.quote(a) for a in ("python3", "-c", LISTENER, self.token, *map(str, PORTS)))
        done = self.run.ssh(self.host, f"nohup timeout {LISTEN_S} {argv} </dev/null >/dev/null 2>&1 & echo $!",
                            what="starting the listener")
        assert done.returncode == 0 and done.stdout.strip().isdigit(), (done.stdout, done.stderr)
        self.pid = done.stdout.strip()  # the coreutils timeout's: SIGTERM to it ends python too

    def stop(self) -> None:
        if self.pid:
            self.run.ssh(self.host, f"kill {self.pid} 2>/dev/null; true", what="stopping the listener", timeout=20)


def world_rules(rules: list[dict[str, Any]], port: int) -> list[dict[str, Any]]:
    """The ingress rules that let anyone reach ``port``: a /0 prefix, or no remote at all."""
    def covers(rule: dict[str, Any]) -> bool:
        low, high = rule.get("port_range_min"), rule.get("port_range_max")
        return (low is None or low <= port) and (high is None or port <= high)

    def world(rule: dict[str, Any]) -> bool:
        prefix, group = rule.get("remote_ip_prefix"), rule.get("remote_group_id")
        return (prefix is None and group is None) or (prefix is not None and
                                                      ipaddress.ip_network(prefix, strict=False).prefixlen == 0)

    return [r for r in rules if r["direction"] == "ingress" and r.get("protocol") in (None, "tcp", "6")
            and covers(r) and world(r)]


def test_the_rule_set_is_what_the_lab_enforces_for_26257_and_8080(lab: dict[str, Any], tmp_path: Path) -> None:
    # what the stack's rule set promises, as the issue asks: 26257 to the harness and the peers,
    # the HTTP console to the harness only, nothing to a cloud outside the run
    expected = {(s, p): admitted(p, s) for s in SOURCES for p in PORTS}
    assert expected[("harness", 26257)] and expected[("peers", 26257)] and expected[("harness", 8080)]
    assert not expected[("peers", 8080)] and not any(expected[("outside", p)] for p in PORTS)

    a, b, c = lab["names"]
    t0 = time.monotonic()
    run, outsider = runs = [new_run(lab, tmp_path, [a, b]), new_run(lab, tmp_path, [c])]
    listener: Listener | None = None
    try:
        # the outsider provisions only: one cloud has no --join list to render
        both(lambda: execute(lab, tmp_path, run),
             lambda: execute(lab, tmp_path, outsider, "-k", "not test_configure and not test_deploy"))
        provisioned = time.monotonic() - t0
        for r in runs:
            assert r.done is not None and r.done.returncode == 0, r.done and (r.done.stdout[-3000:] +
                                                                              r.done.stderr[-2000:])
            start = next(e for e in read_events(r.run_dir / "events.jsonl") if e["type"] == "run-start")
            assert start["keep"] is True and start["dry_run"] is True
            ends = r.ends()
            for cloud in r.clouds:
                for phase in PROVISION:
                    assert ends[(cloud, phase)]["outcome"] == "passed", (cloud, phase, ends[(cloud, phase)])
                assert (cloud, "teardown") not in ends  # skipped, kept: the servers are still up
        assert run.done is not None and "kept (interop run --keep)" in run.done.stdout + run.done.stderr

        target, sibling = run.addresses(a)[:2]
        peer, stranger = run.addresses(b)[0], outsider.addresses(c)[0]
        harness = [str(ipaddress.ip_interface(h).ip) for h in run.ends()[(a, "security-groups")]["details"]["harness"]]

        # the rule sets as the record has them and as the clouds have them, peer rules included
        for r in runs:
            for cloud in r.clouds:
                sg = r.ends()[(cloud, "security-groups")]["details"]
                assert not [x for x in sg["rules"] if "0.0.0.0/0" in x or "::/0" in x], (cloud, sg["rules"])
                api = [x.to_dict() for x in lab["conns"][cloud].network.security_group_rules(security_group_id=sg["id"])]
                for port in PORTS:
                    assert world_rules(api, port) == [], (cloud, port)
        sg_a = run.ends()[(a, "security-groups")]["details"]["id"]
        api_a = [x.to_dict() for x in lab["conns"][a].network.security_group_rules(security_group_id=sg_a)]
        sources = {port: {x["remote_ip_prefix"] for x in api_a if x["port_range_min"] == port} for port in PORTS}
        peer_ips = {f"{x['address']}/32" for x in run.addresses(b)}
        assert peer_ips <= sources[26257] and not peer_ips & sources[8080]
        assert f"{stranger['address']}/32" not in sources[26257] | sources[8080]

        listener = Listener(run, target["address"], secrets.token_hex(4))
        listener.start()
        waited, _ = wait_for(lambda: all(harness_probe(target["address"], p).startswith("reached") for p in PORTS),
                             timeout=20, what=f"the listener on {target['name']} ({target['address']}) answering "
                                              f"the harness on {PORTS}")

        # C's way out: a listener of ours on the harness address, reached from C's server
        control = socket.create_server((harness[0], 0))
        control.settimeout(SSH_S)
        accepted: list[str] = []

        def accept_one() -> None:
            try:
                conn, peer_addr = control.accept()
                conn.sendall(b"interop-rules control\n")
                conn.close()
                accepted.append(peer_addr[0])
            except TimeoutError:
                pass

        acceptor = threading.Thread(target=accept_one, daemon=True)
        acceptor.start()
        control_port = control.getsockname()[1]

        probes: dict[tuple[str, int], Callable[[], str]] = {}
        for port in PORTS:
            probes[("harness", port)] = partial(harness_probe, target["address"], port)
            probes[("group", port)] = partial(server_probe, run, sibling["address"], target["fixed_ip"], port)
            probes[("peers", port)] = partial(server_probe, run, peer["address"], target["address"], port)
            probes[("outside", port)] = partial(server_probe, outsider, stranger["address"], target["address"], port)
        t1 = time.monotonic()
        observed = dict(zip(probes, both(*probes.values(),
                                         partial(server_probe, outsider, stranger["address"], harness[0], control_port)),
                            strict=False))
        probed = time.monotonic() - t1
        acceptor.join(SSH_S)
        control.close()
        assert accepted == [stranger["address"]], (f"{c}'s server did not reach the harness's own listener: its "
                                                   "failures below would not be the security group's doing")

        banner = f"interop-rules {listener.token}"
        got = {k: v.startswith(f"reached {banner} {k[1]}") for k, v in observed.items()}
        assert got == expected, "\n".join(f"{s:8} -> {p}: rules say {'open' if expected[(s, p)] else 'closed'}, "
                                          f"saw {observed[(s, p)]}" for s, p in probes)
        for key, seen in observed.items():  # a closed port is dropped by the group, never a crash
            assert seen.startswith(("reached", "timed out", "refused")), (key, seen)
        assert harness_probe(target["address"], 26257).startswith(f"reached {banner}")  # alive throughout
        print(f"rules on {a}: provisioned {a},{b} and {c} in {provisioned:.1f} s, listener up after {waited:.1f} s, "
              f"probes in {probed:.1f} s: " + "; ".join(f"{s}->{p} {observed[(s, p)].split(' interop')[0]}"
                                                       for s, p in probes))
    finally:
        if listener is not None:
            listener.stop()
        env = {"OS_CLIENT_CONFIG_FILE": lab["clouds_yaml"]}
        cleaned = both(*[partial(procs.interop, "cleanup", "--run-id", r.run_id, "--reports-dir", str(r.reports),
                                 timeout=CLEANUP_TIMEOUT, env=env) for r in runs])
        left = {r.run_id: leftovers(lab, r.run_dir, r.run_id) for r in runs}
        print(f"whole test with cleanup: {time.monotonic() - t0:.1f} s")
        assert all(d.returncode == 0 for d in cleaned), [d.stdout[-2000:] + d.stderr[-1000:] for d in cleaned]
        assert left == {r.run_id: {} for r in runs}, f"the kept runs left resources behind: {left}"
