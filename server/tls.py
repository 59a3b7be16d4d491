"""A self-signed TLS certificate for LAN use, made on first use and kept beside the database.

Phones need a secure context (HTTPS) for the service worker, the camera and push. On a LAN
without a domain, the organisers install or accept this certificate once per phone.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def local_addresses() -> list[str]:
    """The host's own IPv4 addresses as its resolver knows them (no packets are sent)."""
    found = {"127.0.0.1"}
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.add(info[4][0])
    except OSError:
        pass
    return sorted(found)


def _names_in(cert_path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return ({str(n) for n in names.get_values_for_type(x509.DNSName)}
            | {str(ip) for ip in names.get_values_for_type(x509.IPAddress)})


def ensure_certificate(folder: Path, hosts: list[str] | None = None) -> tuple[Path, Path]:
    """Return (cert, key) paths under folder/tls, creating them on first use."""
    tls = folder / "tls"
    cert_path, key_path = tls / "cert.pem", tls / "key.pem"
    if cert_path.exists() and key_path.exists() and set(hosts or []) <= _names_in(cert_path):
        return cert_path, key_path  # kept: phones have accepted this one already
    tls.mkdir(parents=True, exist_ok=True)
    names = ["localhost", socket.gethostname(), *local_addresses(), *(hosts or [])]
    alt_names: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Baodao LAN server")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=825))  # the most iOS accepts
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path
