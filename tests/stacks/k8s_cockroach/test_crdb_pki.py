"""One CA per run: certificates parsed back and checked as a TLS peer would, keys kept private."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.stacks.k8s_cockroach import manifests
from harness.stacks.k8s_cockroach.pki import (
    CLIENT_SECRET,
    Pki,
    client_secret,
    ensure_ca,
    ensure_pki,
    issue_client,
    issue_node,
    metadata,
    node_secret,
    node_secret_name,
    signed_by,
)
from harness.stacks.k8s_cockroach.plan import CrdbNode, CrdbPlan

pytestmark = pytest.mark.k8s


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def verify_with_ca_key(cert: x509.Certificate, ca: x509.Certificate) -> None:
    """The signature check itself, with the CA's public key (raises InvalidSignature)."""
    public = ca.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    assert cert.signature_hash_algorithm is not None
    public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)


def common_name(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(ext.get_values_for_type(x509.DNSName)), {str(i) for i in ext.get_values_for_type(x509.IPAddress)}


def usages(cert: x509.Certificate) -> set[x509.ObjectIdentifier]:
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def pem_body_lines(pem: bytes) -> list[str]:
    """The base64 lines of a PEM block: what would show if it were pasted anywhere."""
    return [line for line in pem.decode().splitlines() if line and not line.startswith("-----")]


def test_the_ca_is_a_ca_of_this_run_and_signed_itself(pki: Pki, plan: CrdbPlan) -> None:
    ca = pki.ca_cert
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert ca.issuer == ca.subject
    assert plan.cluster_name in ca.subject.rfc4514_string()
    verify_with_ca_key(ca, ca)
    key = ca.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048


def test_every_node_certificate_names_every_address_of_its_node(pki: Pki, plan: CrdbPlan) -> None:
    for node in plan.nodes:
        cert = load(pki.node_dir(node) / "node.crt")
        assert common_name(cert) == "node"
        dns, ips = sans(cert)
        assert dns == {node.hostname, "localhost"}
        assert ips == {node.public_ip, node.private_ip, "127.0.0.1"}
        # a node serves its peers and dials them with the same certificate
        assert usages(cert) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
        assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_every_certificate_chains_to_the_one_ca(pki: Pki, plan: CrdbPlan) -> None:
    certs = [load(pki.node_dir(n) / "node.crt") for n in plan.nodes] + [load(pki.client_dir() / "client.root.crt")]
    for cert in certs:
        assert cert.issuer == pki.ca_cert.subject
        verify_with_ca_key(cert, pki.ca_cert)
        cert.verify_directly_issued_by(pki.ca_cert)  # cryptography's own chain step
        assert signed_by(cert, pki.ca_cert)
        assert cert.not_valid_after_utc <= pki.ca_cert.not_valid_after_utc
    for node in plan.nodes:  # every certs directory carries the same CA certificate
        assert load(pki.node_dir(node) / "ca.crt") == pki.ca_cert


def test_a_certificate_of_another_ca_does_not_verify(pki: Pki, plan: CrdbPlan, tmp_path: Path) -> None:
    other = ensure_ca(tmp_path, plan.cluster_name)  # another run's CA, even of the same name
    foreign = load(issue_node(other, plan.nodes[0]) / "node.crt")
    assert other.ca_cert != pki.ca_cert
    with pytest.raises(InvalidSignature):
        verify_with_ca_key(foreign, pki.ca_cert)
    assert not signed_by(foreign, pki.ca_cert)


def test_the_root_client_certificate_is_cn_root_for_clients_only(pki: Pki) -> None:
    cert = load(pki.client_dir() / "client.root.crt")
    assert common_name(cert) == "root"
    assert usages(cert) == {ExtendedKeyUsageOID.CLIENT_AUTH}
    assert sorted(p.name for p in pki.client_dir().iterdir()) == ["ca.crt", "client.root.crt", "client.root.key"]


def test_each_key_belongs_to_its_certificate(pki: Pki, plan: CrdbPlan) -> None:
    pairs = [(pki.node_dir(n) / "node.crt", pki.node_dir(n) / "node.key") for n in plan.nodes]
    pairs += [(pki.client_dir() / "client.root.crt", pki.client_dir() / "client.root.key"),
              (pki.ca_dir / "ca.crt", pki.ca_dir / "ca.key")]
    for crt, key_path in pairs:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert key.public_key().public_numbers() == load(crt).public_key().public_numbers()  # type: ignore[union-attr]


def test_keys_are_0600_in_0700_directories_and_the_ca_key_is_in_no_certs_dir(pki: Pki) -> None:
    keys = sorted(pki.root.rglob("*.key"))
    assert len(keys) == 5 + 1 + 1  # nodes, root client, CA
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    for directory in [pki.root, *[p for p in pki.root.rglob("*") if p.is_dir()]]:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert [k.relative_to(pki.root).as_posix() for k in keys if k.name == "ca.key"] == ["ca/ca.key"]


def test_keys_are_0600_whatever_the_umask(tmp_path: Path, plan: CrdbPlan) -> None:
    old = os.umask(0)  # a umask that filters nothing: the mode must still be 0600
    try:
        pki = ensure_ca(tmp_path, plan.cluster_name)
        issue_node(pki, plan.nodes[0])
        issue_client(pki)
    finally:
        os.umask(old)
    keys = list(pki.root.rglob("*.key"))
    assert len(keys) == 3 and {stat.S_IMODE(k.stat().st_mode) for k in keys} == {0o600}


def test_running_again_reuses_the_ca_and_every_certificate(pki: Pki, plan: CrdbPlan, private_dir: Path) -> None:
    serials = {n.name: load(pki.node_dir(n) / "node.crt").serial_number for n in plan.nodes}
    ca_key = (pki.ca_dir / "ca.key").read_bytes()
    again = ensure_pki(private_dir, plan)
    assert again.ca_cert == pki.ca_cert
    assert (again.ca_dir / "ca.key").read_bytes() == ca_key
    assert {n.name: load(again.node_dir(n) / "node.crt").serial_number for n in plan.nodes} == serials


def test_a_node_whose_address_changed_gets_a_new_certificate_from_the_same_ca(plan: CrdbPlan, tmp_path: Path) -> None:
    pki = ensure_ca(tmp_path, plan.cluster_name)
    node = plan.nodes[0]
    issue_node(pki, node)
    before = load(pki.node_dir(node) / "node.crt")
    moved = replace(node, public_ip="172.24.9.99")
    issue_node(pki, moved)
    after = load(pki.node_dir(moved) / "node.crt")
    assert after.serial_number != before.serial_number
    assert "172.24.9.99" in sans(after)[1] and node.public_ip not in sans(after)[1]
    assert ensure_ca(tmp_path, plan.cluster_name).ca_cert == pki.ca_cert
    assert not [p for p in pki.root.rglob(".*")]  # no scratch or set-aside directories left


def test_workers_racing_for_the_ca_all_end_with_one(tmp_path: Path) -> None:
    start = threading.Barrier(6)
    found: list[x509.Certificate] = []

    def worker() -> None:
        start.wait()
        found.append(ensure_ca(tmp_path, "race").ca_cert)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 6 and len(set(found)) == 1
    assert load(tmp_path / "cockroach-pki" / "ca" / "ca.crt") == found[0]
    assert not [p for p in (tmp_path / "cockroach-pki").iterdir() if p.name.startswith(".")]


def test_secrets_carry_the_node_certs_and_never_the_ca_key(pki: Pki, plan: CrdbPlan) -> None:
    ca_key_pem = (pki.ca_dir / "ca.key").read_bytes()
    secrets = [node_secret(pki, n, plan.namespace) for n in plan.nodes] + [client_secret(pki, plan.namespace)]
    for node, secret in zip(plan.nodes, secrets, strict=False):
        files = {k: base64.b64decode(v) for k, v in secret["data"].items()}
        assert secret["metadata"]["name"] == node_secret_name(node)
        assert sorted(files) == ["ca.crt", "node.crt", "node.key"]
        assert files["node.crt"] == (pki.node_dir(node) / "node.crt").read_bytes()
        assert files["node.key"] == (pki.node_dir(node) / "node.key").read_bytes()
        assert x509.load_pem_x509_certificate(files["ca.crt"]) == pki.ca_cert
    assert secrets[-1]["metadata"]["name"] == CLIENT_SECRET
    assert sorted(secrets[-1]["data"]) == ["ca.crt", "client.root.crt", "client.root.key"]
    for secret in secrets:
        decoded = [base64.b64decode(v) for v in secret["data"].values()]
        assert ca_key_pem not in decoded
        text = json.dumps(secret) + "".join(d.decode() for d in decoded)
        assert not [line for line in pem_body_lines(ca_key_pem) if line in text]
        assert base64.b64encode(ca_key_pem).decode() not in text


def test_metadata_describes_the_certificates_without_any_key(pki: Pki, plan: CrdbPlan) -> None:
    meta = metadata(pki, plan.of_cloud("lab2"), namespace=plan.namespace)
    assert sorted(meta["nodes"]) == ["ih-ab12-lab2-1", "ih-ab12-lab2-2"]
    node = plan.node("ih-ab12-lab2-2")
    cert = load(pki.node_dir(node) / "node.crt")
    entry = meta["nodes"][node.name]
    assert entry["subject"] == "CN=node,O=Cockroach"
    assert entry["serial"] == f"{cert.serial_number:x}"
    assert entry["sha256_fingerprint"].replace(":", "").lower() == hashlib.sha256(
        cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert set(entry["san_dns"]) == {"crdb-b2.lab2.example", "localhost"}
    assert set(entry["san_ip"]) == {"172.24.5.22", "10.10.2.22", "127.0.0.1"}
    assert entry["not_after"] == cert.not_valid_after_utc.isoformat()
    assert entry["secret"]["name"] == node_secret_name(node)
    assert meta["clients"]["root"]["subject"] == "CN=root,O=Cockroach"
    assert meta["ca"]["sha256_fingerprint"] == pki.ca_cert.fingerprint(hashes.SHA256()).hex(":").upper()
    text = json.dumps(meta)
    for key_file in pki.root.rglob("*.key"):
        assert not [line for line in pem_body_lines(key_file.read_bytes()) if line in text], key_file
    assert "PRIVATE KEY" not in text and str(pki.root) not in text


def test_nothing_render_all_gives_a_dry_run_holds_a_key(pki: Pki, plan: CrdbPlan) -> None:
    files = manifests.render_all(plan, pki)
    everything = "\n".join(files.values())
    for key_file in sorted(pki.root.rglob("*.key")):
        pem = key_file.read_bytes()
        assert not [line for line in pem_body_lines(pem) if line in everything], key_file
        assert base64.b64encode(pem).decode()[:40] not in everything
    assert "PRIVATE KEY" not in everything
    assert "kind: Secret" not in everything


def test_node_certificates_are_shorter_lived_than_the_ca(pki: Pki, plan: CrdbPlan) -> None:
    ca_days = (pki.ca_cert.not_valid_after_utc - pki.ca_cert.not_valid_before_utc).days
    node: CrdbNode = plan.nodes[0]
    cert = load(pki.node_dir(node) / "node.crt")
    assert ca_days == 365
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 90
