"""``l7lb certs new`` / ``show`` and the demo certificate."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from l7lb.tls.certinfo import check_pair, describe
from l7lb.tls.certtool import certs_main, ensure_demo_certs


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_new_self_signed(tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "certs" / "www"
    rc = certs_main(
        [
            "new",
            "--cn",
            "www.example.test",
            "--san",
            "example.test",
            "--key",
            kind,
            "--self-signed",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    key, csr_path, cert = (out.with_suffix(s) for s in (".key", ".csr", ".pem"))
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "www.example.test"
    info = check_pair(str(cert), str(key))
    assert info.dns_names == ("www.example.test", "example.test")
    assert info.key_type == ("EC" if kind == "ec" else "RSA")
    assert info.key_size == (256 if kind == "ec" else 2048)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))  # OpenSSL agrees the pair is usable
    capsys.readouterr()
    assert certs_main(["show", str(cert)]) == 0
    shown = capsys.readouterr().out
    assert "SANs:        www.example.test, example.test" in shown
    assert info.sha256 in shown and "CN=www.example.test" in shown


def test_new_csr_only_into_directory(tmp_path: Path) -> None:
    d = tmp_path / "out"
    d.mkdir()
    assert certs_main(["new", "--cn", "api.test", "--out", str(d)]) == 0
    assert sorted(p.name for p in d.iterdir()) == ["api.test.csr", "api.test.key"]


def test_show_reports_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("hello")
    assert certs_main(["show", str(junk)]) == 1
    assert "no PEM certificate" in capsys.readouterr().err
    assert certs_main(["show", str(tmp_path / "missing.pem")]) == 1


def test_demo_certs_made_once(tmp_path: Path) -> None:
    cert, key = ensure_demo_certs(tmp_path / "certs")
    first = Path(cert).read_bytes()
    assert ensure_demo_certs(tmp_path / "certs") == (cert, key)
    assert Path(cert).read_bytes() == first
    assert "localhost" in describe(cert).names
    check_pair(cert, key)
