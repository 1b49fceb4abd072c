"""One certificate authority for every cloud of a run, and the certificates CockroachDB's
secure mode needs, in CockroachDB's own file names (``cockroach-cert.md``).

Layout in the run's private area (:meth:`harness.record.RunDir.private_path`, 0700, outside
``reports/``)::

    cockroach-pki/ca/ca.crt, ca.key                      the CA: its key never leaves here
    cockroach-pki/nodes/<node>/ca.crt, node.crt, node.key          a node's --certs-dir
    cockroach-pki/clients/root/ca.crt, client.root.crt, client.root.key   the harness's

The CA key sits apart from every certs directory, as CockroachDB advises; it is read only to
sign, and nothing here puts it into a Secret, a manifest or :func:`metadata`.

>>> pki = ensure_pki(run.private_path(), plan)            # doctest: +SKIP
>>> node_secret(pki, plan.node("n1"), plan.namespace)["data"].keys()   # doctest: +SKIP
dict_keys(['ca.crt', 'node.crt', 'node.key'])

Keys are RSA 2048, signed with SHA-256: what ``cockroach cert`` itself makes (its
``--key-size`` default) and what CockroachDB's OpenSSL recipe uses, so every client that
reads CockroachDB's certificates (Go, libpq/psycopg, the JDBC driver after a PKCS#8
conversion) reads these. P-256 would be faster to make, but ``keyEncipherment``, which
CockroachDB's recipe puts on node certificates, is an RSA usage.

Lifetimes: the CA 365 days, node and client certificates 90 days (never past the CA). A run's
cluster lives hours; a reference cluster kept for a federated challenge lives weeks, and a
short lifetime bounds what a leaked private area gives away. ``not_before`` is an hour in the
past so a node whose clock is behind the harness's still accepts them.

Idempotent: a second call for the same run reuses the CA, and reuses a node's or client's
certificate while it still names the same addresses, was signed by this CA and has a week
left. Workers of one run racing to make the CA end with one: each builds it in a directory of
its own and renames it into place; the loser discards its own and reads the winner's.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ...errors import HarnessError
from .plan import CrdbNode, CrdbPlan

PKI_DIR = "cockroach-pki"
KEY_BITS = 2048
CA_DAYS = 365
LEAF_DAYS = 90
RENEW_BEFORE = dt.timedelta(days=7)
CLOCK_SKEW = dt.timedelta(hours=1)
NODE_CN = "node"  # CockroachDB authenticates nodes to each other by this common name
ROOT_USER = "root"
ORG = "Cockroach"


@dataclass(frozen=True)
class Pki:
    """The run's CA certificate and where its certificates live; holds no key in memory."""

    root: Path
    ca_cert: x509.Certificate

    @property
    def ca_dir(self) -> Path:
        return self.root / "ca"

    def node_dir(self, node: CrdbNode) -> Path:
        """The node's ``--certs-dir`` content: ca.crt, node.crt, node.key."""
        return self.root / "nodes" / node.name

    def client_dir(self, user: str = ROOT_USER) -> Path:
        """A client's ``--certs-dir`` (or libpq sslrootcert/sslcert/sslkey): ca.crt, client.<user>.*."""
        return self.root / "clients" / user


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    # PKCS#8: Go's crypto/tls (CockroachDB) and OpenSSL (libpq) both read it
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes, mode: int) -> None:
    """A new file with exactly ``mode`` (no window where a key is readable by others)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask filtered open()'s mode; a key must be 0600 whatever it is
        os.write(fd, data)
    finally:
        os.close(fd)


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def _scratch(parent: Path) -> Path:
    return _private_dir(parent / f".tmp.{os.getpid()}.{secrets.token_hex(4)}")


def _name(common_name: str, unit: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG)]
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _make_ca(cluster_name: str) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = _new_key()
    # the cluster name in the CA's subject tells one run's CA from another's
    name = _name("Cockroach CA", cluster_name)
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW).not_valid_after(now + dt.timedelta(days=CA_DAYS))
            # path length 0: this CA signs nodes and clients, never another CA
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return cert, key


def ensure_ca(private_dir: Path, cluster_name: str) -> Pki:
    """The run's CA under ``private_dir``, made on the first call and reused after."""
    root = _private_dir(Path(private_dir) / PKI_DIR)
    ca_dir = root / "ca"
    if not (ca_dir / "ca.crt").exists():
        tmp = _scratch(root)
        cert, key = _make_ca(cluster_name)
        _write(tmp / "ca.key", _key_pem(key), 0o600)
        _write(tmp / "ca.crt", _cert_pem(cert), 0o644)
        try:
            os.rename(tmp, ca_dir)  # atomic; fails if another worker's CA is already in place
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    try:
        cert = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    except (OSError, ValueError) as exc:
        raise HarnessError(f"the run's CockroachDB CA in {ca_dir} cannot be read: {exc}") from exc
    return Pki(root=root, ca_cert=cert)


def _load_ca_key(pki: Pki) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key((pki.ca_dir / "ca.key").read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise HarnessError(f"{pki.ca_dir / 'ca.key'} is not an RSA key")
    return key


def node_addresses(node: CrdbNode) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) a node is reached by; its certificate names every one.

    The harness and the other clouds use the public address, nodes of its own cloud the
    private one (``--locality-advertise-addr``), ``cockroach init`` and probes inside the pod
    ``localhost``; the hostname is what the node calls itself.
    """
    dns = list(dict.fromkeys([node.hostname, "localhost"]))
    ips = list(dict.fromkeys([node.public_ip, node.private_ip, "127.0.0.1"]))
    return dns, ips


def _sans(dns: Iterable[str], ips: Iterable[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    return x509.SubjectAlternativeName(names)


def _sign_leaf(pki: Pki, common_name: str, sans: x509.SubjectAlternativeName | None,
               usages: list[x509.ObjectIdentifier]) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = _new_key()
    ca_key = _load_ca_key(pki)
    now = _now()
    not_after = min(now + dt.timedelta(days=LEAF_DAYS), pki.ca_cert.not_valid_after_utc)
    builder = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(pki.ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - CLOCK_SKEW).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False))
    if sans is not None:
        builder = builder.add_extension(sans, critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def signed_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    """Whether ``ca_cert``'s key signed ``cert`` (the check a TLS peer makes of the chain)."""
    if cert.issuer != ca_cert.subject:
        return False
    public = ca_cert.public_key()
    if not isinstance(public, rsa.RSAPublicKey) or cert.signature_hash_algorithm is None:
        return False
    try:
        public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
    except Exception:  # cryptography's InvalidSignature, or a malformed signature
        return False
    return True


def _sans_of(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def _reusable(path: Path, pki: Pki, sans: x509.SubjectAlternativeName | None) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return False
    return (signed_by(cert, pki.ca_cert) and cert.not_valid_after_utc - _now() > RENEW_BEFORE
            and set(_sans_of(cert) or ()) == set(sans or ()))


def _issue(pki: Pki, target: Path, stem: str, common_name: str, sans: x509.SubjectAlternativeName | None,
           usages: list[x509.ObjectIdentifier]) -> Path:
    if _reusable(target / f"{stem}.crt", pki, sans) and (target / f"{stem}.key").exists():
        return target
    _private_dir(target.parent)
    tmp = _scratch(target.parent)
    cert, key = _sign_leaf(pki, common_name, sans, usages)
    _write(tmp / "ca.crt", _cert_pem(pki.ca_cert), 0o644)
    _write(tmp / f"{stem}.crt", _cert_pem(cert), 0o644)
    _write(tmp / f"{stem}.key", _key_pem(key), 0o600)
    if target.exists():  # stale (addresses changed, other CA, near expiry): set it aside first
        old = target.with_name(f".old.{target.name}.{secrets.token_hex(4)}")
        os.rename(target, old)
        shutil.rmtree(old, ignore_errors=True)
    try:
        os.rename(tmp, target)
    except OSError:  # another worker put a fresh one in place meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def issue_node(pki: Pki, node: CrdbNode) -> Path:
    """The node's certs directory (ca.crt, node.crt, node.key: CN=node, SANs per :func:`node_addresses`).

    Server and client use both: a node dials the other nodes with the same certificate.
    """
    dns, ips = node_addresses(node)
    return _issue(pki, pki.node_dir(node), "node", NODE_CN, _sans(dns, ips),
                  [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])


def issue_client(pki: Pki, user: str = ROOT_USER) -> Path:
    """The client certs directory of ``user`` (ca.crt, client.<user>.crt/.key, CN=<user>)."""
    return _issue(pki, pki.client_dir(user), f"client.{user}", user, None, [ExtendedKeyUsageOID.CLIENT_AUTH])


def ensure_pki(private_dir: Path, plan: CrdbPlan) -> Pki:
    """The run's CA, every node's certificate and the ``root`` client's: made once, reused after."""
    pki = ensure_ca(private_dir, plan.cluster_name)
    for node in plan.nodes:
        issue_node(pki, node)
    issue_client(pki)
    return pki


# --- what leaves the private area: Secrets (to the cluster only) and metadata (to reports/)

CLIENT_SECRET = "cockroachdb-client-root"


def node_secret_name(node: CrdbNode) -> str:
    return f"{node.k8s_name}-certs"


def _secret(name: str, namespace: str, files: dict[str, bytes], component: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"app.kubernetes.io/name": "cockroachdb",
                                    "app.kubernetes.io/component": component,
                                    "app.kubernetes.io/managed-by": "interop-harness"}},
            "data": {k: base64.b64encode(v).decode() for k, v in files.items()}}


def node_secret(pki: Pki, node: CrdbNode, namespace: str) -> dict[str, Any]:
    """The node's certs as a Secret: ca.crt, node.crt, node.key (never the CA key).

    Issues the certificate first if it is missing or stale. The Secret holds the node's key:
    apply it to the node's own cluster, never write it under ``reports/``.
    """
    directory = issue_node(pki, node)
    files = {f: (directory / f).read_bytes() for f in ("ca.crt", "node.crt", "node.key")}
    return _secret(node_secret_name(node), namespace, files, "node-certs")


def client_secret(pki: Pki, namespace: str, user: str = ROOT_USER) -> dict[str, Any]:
    """The ``user`` client's certs as a Secret (ca.crt, client.<user>.crt/.key), for a pod that
    runs SQL as that user; the harness itself uses :meth:`Pki.client_dir`."""
    directory = issue_client(pki, user)
    files = {f: (directory / f).read_bytes() for f in ("ca.crt", f"client.{user}.crt", f"client.{user}.key")}
    name = CLIENT_SECRET if user == ROOT_USER else f"cockroachdb-client-{user}"
    return _secret(name, namespace, files, "client-certs")


def cert_metadata(cert: x509.Certificate) -> dict[str, Any]:
    """What a report may say of a certificate: names, validity, fingerprint; no key material."""
    sans = _sans_of(cert)
    public = cert.public_key()
    return {"subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
            "serial": f"{cert.serial_number:x}",
            "not_before": cert.not_valid_before_utc.isoformat(), "not_after": cert.not_valid_after_utc.isoformat(),
            "sha256_fingerprint": cert.fingerprint(hashes.SHA256()).hex(":").upper(),
            "san_dns": sans.get_values_for_type(x509.DNSName) if sans else [],
            "san_ip": [str(i) for i in sans.get_values_for_type(x509.IPAddress)] if sans else [],
            "key": f"RSA {public.key_size}" if isinstance(public, rsa.RSAPublicKey) else type(public).__name__}


def _read_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def metadata(pki: Pki, nodes: Iterable[CrdbNode], *, namespace: str | None = None) -> dict[str, Any]:
    """The certificates of ``nodes`` (and the CA's and root client's) for the run's artifacts.

    Issues what is missing. Names the Secret each one travels in (when ``namespace`` is given)
    and the files in it; no key, no path into the private area.
    """
    out: dict[str, Any] = {"ca": cert_metadata(pki.ca_cert), "ca_key": "kept in the run's private area only",
                           "nodes": {}, "clients": {}}
    for node in nodes:
        meta = cert_metadata(_read_cert(issue_node(pki, node) / "node.crt"))
        if namespace:
            meta["secret"] = {"namespace": namespace, "name": node_secret_name(node),
                              "files": ["ca.crt", "node.crt", "node.key"]}
        out["nodes"][node.name] = meta
    client = cert_metadata(_read_cert(issue_client(pki) / f"client.{ROOT_USER}.crt"))
    if namespace:
        client["secret"] = {"namespace": namespace, "name": CLIENT_SECRET,
                            "files": ["ca.crt", f"client.{ROOT_USER}.crt", f"client.{ROOT_USER}.key"]}
    out["clients"][ROOT_USER] = client
    return out
