"""What a PEM certificate chain says: names, key, validity, fingerprint.

Shared by ``l7lb certs show``, the per-VIP context builder (the SNI name map
comes from each certificate's own SAN and CN) and ``l7lb check``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID


class CertificateError(ValueError):
    """A certificate or key file is unusable; the message names the file and why."""


@dataclass(frozen=True, slots=True)
class CertInfo:
    path: str
    subject: str
    issuer: str
    common_name: str | None
    dns_names: tuple[str, ...]  # SAN dNSName entries, lower-case
    key_type: str  # "RSA" | "EC" | "Ed25519" | "Ed448"
    key_size: int  # bits (curve size for EC)
    not_before: dt.datetime
    not_after: dt.datetime
    sha256: str  # colon-separated hex of the DER leaf
    chain_length: int  # certificates in the file
    chain_in_order: bool  # each certificate is signed by the name of the next one

    @property
    def names(self) -> tuple[str, ...]:
        """Names this certificate serves: SANs, or the CN when there is no SAN (RFC 6125)."""
        if self.dns_names:
            return self.dns_names
        return (self.common_name.lower(),) if self.common_name else ()


def _key_desc(key: object) -> tuple[str, int]:
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return "EC", key.curve.key_size
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey | ed448.Ed448PrivateKey):
        return "Ed448", 456
    return type(key).__name__, 0


def load_chain(path: str) -> list[x509.Certificate]:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise CertificateError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise CertificateError(f"{path}: no PEM certificate in the file") from None
    return chain


def describe(path: str) -> CertInfo:
    chain = load_chain(path)
    leaf = chain[0]
    cns = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cns[0].value) if cns else None
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(n.lower() for n in san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        dns = ()
    key_type, key_size = _key_desc(leaf.public_key())
    in_order = all(a.issuer == b.subject for a, b in itertools.pairwise(chain))
    fp = leaf.fingerprint(hashes.SHA256()).hex().upper()
    return CertInfo(
        path=path,
        subject=leaf.subject.rfc4514_string(),
        issuer=leaf.issuer.rfc4514_string(),
        common_name=cn,
        dns_names=dns,
        key_type=key_type,
        key_size=key_size,
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        sha256=":".join(fp[i : i + 2] for i in range(0, len(fp), 2)),
        chain_length=len(chain),
        chain_in_order=in_order,
    )


def check_pair(cert_path: str, key_path: str, now: dt.datetime | None = None) -> CertInfo:
    """Describe ``cert_path`` and verify it can serve: key matches, not expired, chain order.

    Raises ``CertificateError`` with a message precise enough for one log line.
    """
    info = describe(cert_path)
    try:
        with open(key_path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
    except OSError as exc:
        raise CertificateError(f"{key_path}: cannot read: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        raise CertificateError(f"{key_path}: not an unencrypted PEM private key ({exc})") from None
    leaf = load_chain(cert_path)[0]
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, pub) != leaf.public_key().public_bytes(der, pub):
        raise CertificateError(f"{key_path}: private key does not match {cert_path}")
    now = now or dt.datetime.now(dt.UTC)
    if info.not_after <= now:
        raise CertificateError(f"{cert_path}: expired on {info.not_after:%Y-%m-%d %H:%M} UTC")
    if info.not_before > now:
        raise CertificateError(f"{cert_path}: not valid before {info.not_before:%Y-%m-%d} UTC")
    if not info.chain_in_order:
        raise CertificateError(f"{cert_path}: chain out of order (leaf first, then its issuer)")
    if not info.names:
        raise CertificateError(f"{cert_path}: no DNS name in SAN or CN")
    return info
