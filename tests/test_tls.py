"""HTTPS against a real InfluxDB 1.x serving a self-signed certificate made here."""
from __future__ import annotations

import datetime
import ipaddress
import itertools

import pytest

from connector import ServerRefused, export
from connector.cli import main
from support.influx1 import Influx1Server, influxd_available

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

_names = itertools.count()


def _self_signed(folder):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "influxdb-connector test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def https_server(tmp_path_factory, influx1):  # influx1: the CI-must-run guard for influxd
    cert, key = _self_signed(tmp_path_factory.mktemp("tls"))
    with Influx1Server(tls_cert=cert, tls_key=key) as server:
        server.create_database("tls")
        server.write("tls", "m v=1i 1704067200000000000\n")
        yield server, cert


def params(server, tmp_path, **changes):
    base = dict(url=server.url, token="", org="-", bucket="tls", measurement="m", time_col="t", api="v1",
                range_start="2024-01-01", range_end="2024-01-02", local_dir=str(tmp_path))
    base.update(changes)
    return base


def test_certificates_are_verified_by_default(https_server, tmp_path):
    server, _ = https_server
    assert server.url.startswith("https://")
    with pytest.raises(ServerRefused) as caught:  # not retried: it would fail the same way
        export(**params(server, tmp_path))
    assert str(caught.value).startswith(f"the HTTPS certificate of {server.url} did not verify (")
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert str(caught.value).endswith("pass ssl_ca_cert with your CA bundle, or verify_ssl False to skip "
                                      "the check (not recommended)")
    assert list(tmp_path.iterdir()) == []


def test_a_private_ca_is_trusted_through_ssl_ca_cert(https_server, tmp_path):
    server, cert = https_server
    summary = export(**params(server, tmp_path, ssl_ca_cert=str(cert)))
    assert (tmp_path / "influxdb.csv").read_text() == "t,v\n2024-01-01T00:00:00.000000000Z,1\n"
    assert summary.rows == 1


def test_verify_ssl_false_works_and_says_so(https_server, tmp_path, capsys):
    server, _ = https_server
    argv = [f"--{k}={v}" for k, v in params(server, tmp_path, verify_ssl="False").items()]
    assert main(argv) == 0
    out = capsys.readouterr()
    assert "verify_ssl=False: the server's HTTPS certificate is NOT checked" in out.out
    assert out.err == ""
