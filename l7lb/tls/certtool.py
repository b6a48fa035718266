"""``l7lb certs``: make keys, CSRs and self-signed certificates; show certificates.

The CSR's CN is the DNS name of the VIP (LVS-HOWTO 20.24: the certificate
names the service, not the realserver), repeated as a SAN because clients
ignore the CN when a SAN is present (RFC 6125 §6.4.4).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from l7lb.tls.certinfo import CertificateError, describe

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def new_key(kind: str = "ec", rsa_bits: int = 2048) -> PrivateKey:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    raise ValueError(f"unknown key type {kind!r} (ec or rsa)")


def _names(cn: str, sans: list[str]) -> list[str]:
    out = [cn.lower()]
    for s in sans:
        if s.lower() not in out:
            out.append(s.lower())
    return out


def make_csr(key: PrivateKey, cn: str, sans: list[str]) -> x509.CertificateSigningRequest:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in _names(cn, sans)]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )


def make_self_signed(
    key: PrivateKey,
    cn: str,
    sans: list[str],
    days: int = 365,
    now: dt.datetime | None = None,
) -> x509.Certificate:
    now = now or dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in _names(cn, sans)]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )


def write_key(path: Path, key: PrivateKey) -> None:
    """Write the key with mode 0600 from the first byte (no umask window)."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(path, 0o600)  # O_CREAT keeps the mode of an existing file


def _prefix(out: str) -> Path:
    """``--out certs/`` (a directory) or ``--out certs/www`` (a file prefix)."""
    p = Path(out)
    return p if not (out.endswith("/") or p.is_dir()) else p / "cert"


def create(
    cn: str, sans: list[str], kind: str, self_signed: bool, out: str, days: int = 365
) -> dict[str, Path]:
    prefix = _prefix(out)
    if prefix.name == "cert":
        prefix = prefix.with_name(cn.replace("*", "_wildcard"))
    prefix.parent.mkdir(parents=True, exist_ok=True)
    key = new_key(kind)
    # Append, not with_suffix: "api.test" + ".key" must not become "api.key".
    paths = {"key": Path(f"{prefix}.key"), "csr": Path(f"{prefix}.csr")}
    write_key(paths["key"], key)
    paths["csr"].write_bytes(make_csr(key, cn, sans).public_bytes(serialization.Encoding.PEM))
    if self_signed:
        paths["cert"] = Path(f"{prefix}.pem")
        cert = make_self_signed(key, cn, sans, days)
        paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return paths


def ensure_demo_certs(directory: str | os.PathLike[str]) -> tuple[str, str]:
    """Self-signed demo certificate for localhost in ``directory``, made on first run."""
    d = Path(directory)
    cert, key = d / "demo.pem", d / "demo.key"
    if not (cert.exists() and key.exists()):
        d.mkdir(parents=True, exist_ok=True)
        k = new_key("ec")
        write_key(key, k)
        c = make_self_signed(k, "localhost", ["localhost", "*.localhost", "demo.l7lb.test"], 825)
        cert.write_bytes(c.public_bytes(serialization.Encoding.PEM))
    return str(cert), str(key)


def show(path: str) -> str:
    info = describe(path)
    days_left = (info.not_after - dt.datetime.now(dt.UTC)).days
    lines = [
        f"file:        {info.path}",
        f"subject:     {info.subject}",
        f"SANs:        {', '.join(info.dns_names) or '(none)'}",
        f"issuer:      {info.issuer}",
        f"key:         {info.key_type} {info.key_size} bits",
        f"valid from:  {info.not_before:%Y-%m-%d %H:%M:%S} UTC",
        f"valid until: {info.not_after:%Y-%m-%d %H:%M:%S} UTC ({days_left} days left)",
        f"sha256:      {info.sha256}",
        f"chain:       {info.chain_length} certificate(s)"
        + ("" if info.chain_in_order else ", OUT OF ORDER"),
    ]
    return "\n".join(lines)


def certs_main(argv: list[str]) -> int:
    """``l7lb certs new ...`` / ``l7lb certs show FILE``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="l7lb certs")
    sub = parser.add_subparsers(dest="cmd", required=True)
    new = sub.add_parser("new", help="private key + CSR (+ self-signed certificate)")
    new.add_argument("--cn", required=True, help="DNS name of the VIP")
    new.add_argument("--san", action="append", default=[], help="extra DNS name (repeatable)")
    new.add_argument("--key", choices=("ec", "rsa"), default="ec")
    new.add_argument("--self-signed", action="store_true")
    new.add_argument("--days", type=int, default=365)
    new.add_argument("--out", required=True, help="directory/ or file prefix (certs/www)")
    sh = sub.add_parser("show", help="describe a PEM certificate")
    sh.add_argument("file")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "new":
            paths = create(args.cn, args.san, args.key, args.self_signed, args.out, args.days)
            for kind, p in paths.items():
                print(f"{kind}: {p}")
            return 0
        print(show(args.file))
        return 0
    except (CertificateError, OSError, ValueError) as exc:
        print(f"l7lb certs: {exc}", file=sys.stderr)
        return 1
