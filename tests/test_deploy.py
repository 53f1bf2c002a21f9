"""Deployment units: systemd accepts them as shipped (review item 16)."""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNITS = sorted((ROOT / "deploy").glob("*.service"))


def test_the_web_streams_and_scheduler_units_are_shipped():
    assert {u.name for u in UNITS} == {"helpline-web.service", "helpline-streams.service", "helpline-scheduler.service"}
    for name in ("helpline-web.service", "helpline-streams.service"):
        unit = (ROOT / "deploy" / name).read_text()
        # The whole process group is stopped (no orphan workers holding the port) and failures restart.
        assert "KillMode=mixed" in unit and "Restart=on-failure" in unit and "APP_CONFIG=production" in unit
    assert "PROXY_FIX_HOPS=1" in (ROOT / "deploy" / "helpline.env.example").read_text()


def test_streams_are_routed_to_their_own_server_and_refused_by_the_web_one():
    """A stream holds a thread for minutes: the web tier, sized for requests, must never hold one."""
    web = (ROOT / "deploy" / "helpline-web.service").read_text()
    streams = (ROOT / "deploy" / "helpline-streams.service").read_text()
    assert "--env EVENT_STREAMS_PER_PROCESS=0" in web and "127.0.0.1:8000" in web
    assert "--worker-class gthread --threads 1024" in streams and "127.0.0.1:8001" in streams
    nginx = (ROOT / "deploy" / "nginx.conf.example").read_text()
    assert "server 127.0.0.1:8001;" in nginx.split("upstream helpline_streams {", 1)[1].split("}", 1)[0]
    for location in ("location = /api/v1/events {", "location ~ ^/webchat/sessions/[^/]+/events$ {"):
        block = nginx.split(location, 1)[1].split("}", 1)[0]
        assert "proxy_pass http://helpline_streams;" in block and "proxy_buffering off;" in block


def test_the_web_unit_and_the_readme_run_the_api_on_sync_workers():
    """The API and webhooks on single-threaded processes (README, Production, says why); streams elsewhere."""
    web = (ROOT / "deploy" / "helpline-web.service").read_text()
    command = web.split("ExecStart=", 1)[1].split("wsgi:app", 1)[0]
    assert "--workers 4" in command and "--worker-class" not in command and "--threads" not in command
    readme = (ROOT / "README.md").read_text()
    assert "gunicorn --workers 4 --env EVENT_STREAMS_PER_PROCESS=0" in readme
    # Sync workers close every connection: an upstream keepalive pool would only hold dead ones.
    nginx = (ROOT / "deploy" / "nginx.conf.example").read_text()
    assert "keepalive" not in nginx.split("upstream helpline {", 1)[1].split("}", 1)[0]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_passes(tmp_path):
    """Verified with the install paths pointed at this checkout, where the executables exist."""
    env_file = tmp_path / "helpline.env"
    env_file.write_text("")
    for unit in UNITS:
        text = unit.read_text().replace("/opt/helpline", str(ROOT)).replace("/etc/helpline/helpline.env", str(env_file))
        (tmp_path / unit.name).write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", *[str(tmp_path / u.name) for u in UNITS]],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def test_make_run_execs_gunicorn_so_signals_reach_it():
    """SIGTERM to `make run` used to leave gunicorn serving: the recipe's shell now becomes gunicorn."""
    recipe = (ROOT / "Makefile").read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "exec $(BIN)/gunicorn" in recipe


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for nginx's own check of the example's TLS server."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "helpline.example.org")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (.ci/run installs it)")
def test_nginx_accepts_the_example_as_a_conf_d_file(tmp_path):
    """The example once had its log_format inside the server block, which nginx refuses to start with.

    Included as Debian's nginx.conf includes conf.d/*.conf: inside http { }. Only the certificate
    paths (made here), the listening ports (free ones) and the log path change."""
    cert_path, key_path = _self_signed_certificate(tmp_path)
    example = (ROOT / "deploy" / "nginx.conf.example").read_text()
    site = (example.replace("/etc/letsencrypt/live/helpline.example.org/fullchain.pem", str(cert_path))
            .replace("/etc/letsencrypt/live/helpline.example.org/privkey.pem", str(key_path))
            .replace("/var/log/nginx/", f"{tmp_path}/")
            .replace("listen 443 ssl", f"listen 127.0.0.1:{_free_port()} ssl")
            .replace("listen 80;", f"listen 127.0.0.1:{_free_port()};"))
    (tmp_path / "helpline.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n    access_log off;\n    include {tmp_path}/helpline.conf;\n}}\n")
    result = subprocess.run(["nginx", "-t", "-e", str(tmp_path / "error.log"), "-p", str(tmp_path),
                             "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr and "[emerg]" not in result.stderr, result.stderr
