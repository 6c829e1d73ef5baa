"""The cnvrg dataset upload: the REAL cnvrgv2 classes against support/fake_cnvrg.py.

There is no cnvrg server here. cnvrgv2 is never patched: the only seams are the CNVRG_*
environment variables (whose CNVRG_URL points at the fake), the current directory and HOME.
The fake answers the requests cnvrgv2 1.1.8 sends (login, dataset, commit, file metadata,
storage credentials) and is the "minio" object store the file bytes are PUT to, so the tests
compare the bytes cnvrg received with the file.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from connector.errors import OutputError
from connector.publish import publish
from support.fake_cnvrg import ACCESS_KEY, BUCKET, FakeCnvrg

REPO = Path(__file__).resolve().parents[1]
NAME = "My Plant Data"
SLUG = "my-plant-data"
MESSAGE = "plant 2024-01-01T00:00:00Z .. 2024-01-02T00:00:00Z (3 rows) from InfluxDB"
# The whole conversation cnvrgv2 has with cnvrg for one file, login to end of commit.
LOGIN = ["version", "sign_in", "organization"]
UPLOAD = ["start_commit", "storage_client", "sts", "upload_files", "put_object", "upload_files_save",
          "dataset", "end_commit"]  # put_files reads dataset.last_commit again before end_commit
T = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z
S = 1_000_000_000


def csv_bytes(rows: int = 20_000) -> bytes:
    """A realistic file (~0.6 MB: one PutObject, below boto3's 8 MiB multipart threshold)."""
    lines = ["time,unit,v"] + [f"2024-01-01T00:00:{i % 60:02d}.{i:09d}Z,u{i % 7},{i * 0.25}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def clean_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """No CNVRG_*/AWS_* from the machine; HOME without ~/.cnvrg, ~/.netrc, ~/.aws."""
    for key in list(os.environ):
        if key.startswith(("CNVRG_", "AWS_")):
            monkeypatch.delenv(key)
    home.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "no-aws-credentials"))


@pytest.fixture
def fake():
    with FakeCnvrg() as server:
        yield server


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeCnvrg) -> Path:
    """A cnvrg job: the current directory is the work dir, CNVRG_* point at the fake."""
    return cnvrg_job(tmp_path, monkeypatch, fake)


def cnvrg_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: FakeCnvrg) -> Path:
    """Enter a fresh work dir with a clean environment whose CNVRG_* point at `server`."""
    work = tmp_path / "cnvrg"
    work.mkdir()
    monkeypatch.chdir(work)
    clean_env(monkeypatch, tmp_path / "home")
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    return work


@pytest.fixture
def data_file(workdir: Path) -> Path:
    path = workdir / "data.csv"
    path.write_bytes(csv_bytes())
    return path


def assert_one_line(exc: pytest.ExceptionInfo, fake: FakeCnvrg) -> str:
    text = str(exc.value)
    assert "\n" not in text and "\r" not in text, text
    assert fake.token not in text and fake.jwt not in text, text
    assert "SEKRET" not in text
    return text


# ---------------------------------------------------------------- success

def test_existing_dataset_found_by_slug_gets_the_file_with_the_message(
        fake: FakeCnvrg, data_file: Path, capsys: pytest.CaptureFixture) -> None:
    fake.add_dataset(NAME)
    commit = publish(data_file, NAME, MESSAGE)

    dataset = fake.dataset(SLUG)
    assert dataset.commits == [commit] and dataset.last_commit == commit
    assert fake.commits[commit].message == MESSAGE
    assert fake.commits[commit].parent_sha1 is None
    assert list(dataset.files) == ["data.csv"]  # at the dataset root, by its name
    stored = dataset.files["data.csv"]
    body = data_file.read_bytes()
    assert stored.data == body
    assert stored.size == len(body) and stored.sha1 == hashlib.sha1(body).hexdigest()
    assert fake.objects == {f"{BUCKET}/{stored.object_path}": body}
    # Exactly this conversation: found (200) on the first look, never created.
    assert fake.routes() == LOGIN + ["dataset"] + UPLOAD
    assert [r.status for r in fake.requests] == [200] * len(fake.requests)
    sign_in = fake.calls("sign_in")[0].json
    assert sign_in == {"username": fake.email, "password": "", "token": fake.token}
    api = [r for r in fake.requests if r.path.startswith("/api/") and r.route not in ("version", "sign_in")]
    assert {r.header("Authorization") for r in api} == {f"CAPI {fake.jwt}"}
    assert all(r.path.startswith(f"/api/v2/{fake.org}") for r in api)
    assert f"Credential={ACCESS_KEY}/" in fake.calls("put_object")[0].header("Authorization")
    out = capsys.readouterr()
    # cnvrgv2 prints nothing into the connector's stdout (our own log lines may be there, if an
    # earlier test in this process set up the CLI's log handler)
    printed = [line for line in out.out.splitlines() if not line.startswith("[influxdb-connector] ")]
    assert printed == [] and out.err == ""


def test_a_slug_is_found_as_itself(fake: FakeCnvrg, data_file: Path) -> None:
    fake.add_dataset(NAME)
    commit = publish(data_file, SLUG, MESSAGE)
    assert fake.dataset(SLUG).last_commit == commit
    assert fake.calls("create_dataset") == []


def test_missing_dataset_404_is_created_then_gets_the_file(fake: FakeCnvrg, data_file: Path) -> None:
    commit = publish(data_file, f"  {NAME} ", MESSAGE)

    assert fake.routes() == LOGIN + ["dataset", "create_dataset"] + UPLOAD
    assert fake.calls("dataset")[0].status == 404
    assert fake.calls("create_dataset")[0].json == {
        "data": {"type": "dataset", "attributes": {"title": NAME, "category": "general"}}}
    dataset = fake.dataset(SLUG)
    assert dataset.title == NAME
    assert dataset.commits == [commit]
    assert fake.commits[commit].message == MESSAGE
    assert {path: f.data for path, f in dataset.files.items()} == {"data.csv": data_file.read_bytes()}


def test_a_file_in_a_subfolder_keeps_its_path_from_the_current_directory(fake: FakeCnvrg, workdir: Path) -> None:
    (workdir / "out").mkdir()
    path = workdir / "out" / "plant.csv"
    path.write_bytes(b"time,v\n2024-01-01T00:00:00Z,1\n")
    fake.add_dataset(NAME)
    publish(path, NAME, MESSAGE)
    assert {p: f.data for p, f in fake.dataset(SLUG).files.items()} == {"out/plant.csv": path.read_bytes()}


def test_the_organization_is_cnvrg_organization_not_the_login_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """cnvrgv2's token login takes the org from the sign_in answer (the user's default org)."""
    with FakeCnvrg(org="acme", login_org="personal") as server:
        work = cnvrg_job(tmp_path, monkeypatch, server)
        (work / "data.csv").write_bytes(b"a\n1\n")
        server.add_dataset(NAME, org="acme")
        commit = publish(work / "data.csv", NAME, MESSAGE)
        assert server.dataset(SLUG, org="acme").last_commit == commit
        assert server.calls("create_dataset") == []
        assert [r.path for r in server.requests if "/personal" in r.path] == []
        assert f"personal/{SLUG}" not in server.datasets


def test_a_transient_500_on_reload_is_retried_and_not_taken_as_missing(fake: FakeCnvrg, data_file: Path) -> None:
    fake.add_dataset(NAME)
    fake.fail("dataset", 500, times=2)  # cnvrgv2 sleeps 1 s, then 4 s
    commit = publish(data_file, NAME, MESSAGE)
    assert [r.status for r in fake.calls("dataset")][:3] == [500, 500, 200]
    assert fake.calls("create_dataset") == []
    assert fake.dataset(SLUG).files["data.csv"].data == data_file.read_bytes()
    assert fake.dataset(SLUG).last_commit == commit


# ---------------------------------------------------------------- refusals are not "missing"

@pytest.mark.parametrize("status", [401, 403])
def test_refused_reload_is_not_missing_no_create_and_one_line_naming_dataset_and_status(
        fake: FakeCnvrg, data_file: Path, status: int) -> None:
    fake.add_dataset(NAME)
    # A server (or proxy) that echoes the credentials it got: they must not reach the user.
    fake.fail("dataset", status, body={"errors": [{"title": "Forbidden",
                                                  "detail": f"token {fake.token} / CAPI {fake.jwt} may not"}]})
    with pytest.raises(OutputError) as exc:
        publish(data_file, NAME, MESSAGE)
    text = assert_one_line(exc, fake)
    assert f"'{SLUG}'" in text and f"({status})" in text, text
    assert fake.routes() == LOGIN + ["dataset"]  # no create, no commit
    assert list(fake.datasets) == [f"{fake.org}/{SLUG}"] and fake.commits == {}


def test_an_html_error_page_is_quoted_as_one_short_line(fake: FakeCnvrg, data_file: Path) -> None:
    page = "<html>\n<head><title>403 Forbidden</title></head>\n<body>\n" + "x" * 5000 + "\n</body>\n</html>\n"
    fake.fail("dataset", 403, body=page, content_type="text/html")
    with pytest.raises(OutputError) as exc:
        publish(data_file, NAME, MESSAGE)
    text = assert_one_line(exc, fake)
    assert text.startswith(f"cnvrg refused the upload to dataset '{SLUG}' (403): <html> <head><title>403"), text
    assert len(text) < 400, len(text)
    assert fake.calls("create_dataset") == []


def test_wrong_token_is_a_login_failure_line(fake: FakeCnvrg, data_file: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNVRG_TOKEN", "wrong-SEKRET-token")
    with pytest.raises(OutputError) as exc:
        publish(data_file, NAME, MESSAGE)
    text = assert_one_line(exc, fake)
    assert "wrong-SEKRET-token" not in text
    assert text.startswith(f"cannot log in to cnvrg to upload to dataset '{SLUG}': "), text
    assert fake.routes() == ["version", "sign_in"]
    assert fake.calls("sign_in")[0].status == 401


def test_no_login_environment_names_the_variables(fake: FakeCnvrg, data_file: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("CNVRG_URL", "CNVRG_TOKEN", "CNVRG_EMAIL", "CNVRG_ORGANIZATION"):
        monkeypatch.delenv(key)
    with pytest.raises(OutputError) as exc:
        publish(data_file, NAME, MESSAGE)
    text = str(exc.value)
    assert "cannot log in to cnvrg" in text, text
    assert "CNVRG_URL, CNVRG_TOKEN, CNVRG_EMAIL, CNVRG_ORGANIZATION" in text, text
    assert fake.requests == []


def test_cnvrg_unreachable_is_an_output_error(fake: FakeCnvrg, data_file: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("CNVRG_URL", closed)
    with pytest.raises(OutputError) as exc:
        publish(data_file, NAME, MESSAGE)
    text = assert_one_line(exc, fake)
    assert text == f"cannot reach cnvrg at '{closed}' to upload to dataset '{SLUG}': ConnectionError", text


# ---------------------------------------------------------------- nothing uploaded

def test_missing_file_fails_before_any_request(fake: FakeCnvrg, workdir: Path) -> None:
    with pytest.raises(OutputError) as exc:
        publish(workdir / "nope.csv", NAME, MESSAGE)
    assert str(exc.value) == f"cannot upload {workdir / 'nope.csv'}: the file does not exist"
    assert fake.requests == []


def test_file_outside_the_current_directory_fails_before_any_request(
        fake: FakeCnvrg, workdir: Path, tmp_path: Path) -> None:
    """cnvrgv2 would name the dataset file by its absolute path ('/tmp/.../data.csv')."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "data.csv").write_bytes(b"a\n1\n")
    with pytest.raises(OutputError) as exc:
        publish(elsewhere / "data.csv", NAME, MESSAGE)
    text = str(exc.value)
    assert str(elsewhere / "data.csv") in text and str(workdir) in text and "local_dir" in text, text
    assert fake.requests == []


def test_put_files_making_no_commit_is_an_error(fake: FakeCnvrg, data_file: Path, workdir: Path) -> None:
    """A .cnvrgignore in the current directory (a cnvrg project has one) can exclude the file."""
    (workdir / ".cnvrgignore").write_text("*.csv\n")
    fake.add_dataset(NAME)
    with pytest.raises(OutputError) as exc:
        publish(data_file, NAME, MESSAGE)
    assert str(exc.value) == (f"cnvrg made no commit for data.csv in dataset '{SLUG}': nothing was uploaded "
                              f"(is data.csv excluded by a .cnvrgignore?)")
    assert fake.routes() == LOGIN + ["dataset"]  # put_files returned None before starting a commit


def test_end_commit_without_a_commit_is_an_error(fake: FakeCnvrg, data_file: Path) -> None:
    fake.end_commit_empty = True  # cnvrg dropped the commit; the dataset has no earlier one
    with pytest.raises(OutputError) as exc:
        publish(data_file, NAME, MESSAGE)
    assert str(exc.value).startswith(f"cnvrg made no commit for data.csv in dataset '{SLUG}'"), str(exc.value)
    # put_files then falls back to dataset.last_commit (one more look), which is None here
    assert fake.routes() == LOGIN + ["dataset", "create_dataset"] + UPLOAD + ["dataset"]
    assert fake.dataset(SLUG).commits == [] and fake.dataset(SLUG).files == {}


def test_a_failed_storage_upload_is_an_error_not_a_silent_commit(
        fake: FakeCnvrg, data_file: Path, capsys: pytest.CaptureFixture) -> None:
    """cnvrgv2's minio client only print()s the PutObject failure and commits the record anyway."""
    fake.add_dataset(NAME)
    fake.fail("put_object", 500)
    with pytest.raises(OutputError) as exc:
        publish(data_file, NAME, MESSAGE)
    text = assert_one_line(exc, fake)
    commit = fake.dataset(SLUG).last_commit
    assert commit is not None and fake.dataset(SLUG).files["data.csv"].data is None  # what cnvrg now holds
    assert text.startswith(f"uploading data.csv to cnvrg dataset '{SLUG}' failed: Failed to upload data.csv"), text
    assert "PutObject" in text and text.endswith(f"; commit {commit} may lack the file"), text
    assert len(fake.calls("put_object")) == 3  # boto3's standard retry mode: 3 attempts
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------- end to end through the CLI

def test_cli_exports_from_influxdb_1x_and_uploads_to_the_dataset(influx1, tmp_path: Path) -> None:
    db = f"publish_{uuid.uuid4().hex[:8]}"
    influx1.create_database(db)
    influx1.write(db, [f"m,unit=u1 v=1.5 {T}", f"m,unit=u2 v=2.0 {T + S + 7}"])
    work = tmp_path / "cnvrg"
    work.mkdir()
    (tmp_path / "home").mkdir()
    with FakeCnvrg() as server:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("INFLUXDB_", "CNVRG_", "AWS_"))}
        env.update(server.env(), CNVRG_WORKDIR=str(work), HOME=str(tmp_path / "home"))
        args = ["--url", influx1.url, "--token", "", "--org", "-", "--bucket", db, "--measurement", "m",
                "--time_col", "time", "--range_start", "2024-01-01", "--range_end", "2024-01-02",
                "--api", "v1", "--local_dir", "None", "--cnvrg_dataset", NAME]
        started = time.monotonic()
        result = subprocess.run([sys.executable, str(REPO / "influxdb_connector.py"), *args], cwd=work, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, (result.stdout, result.stderr)
        assert result.stderr == ""
        assert time.monotonic() - started < 60

        dataset = server.dataset(SLUG)  # created: cnvrg said 404
        assert server.calls("create_dataset")[0].json["data"]["attributes"]["title"] == NAME
        commit = dataset.last_commit
        assert commit and dataset.commits == [commit]
        expected = ("time,unit,v\n"
                    "2024-01-01T00:00:00.000000000Z,u1,1.5\n"
                    "2024-01-01T00:00:01.000000007Z,u2,2.0\n").encode()
        assert (work / "influxdb.csv").read_bytes() == expected
        assert {p: f.data for p, f in dataset.files.items()} == {"influxdb.csv": expected}
        assert server.commits[commit].message == (
            "m 2024-01-01T00:00:00.000000000Z .. 2024-01-01T00:00:01.000000007Z (2 rows) from InfluxDB")
        lines = result.stdout.splitlines()
        wrote = [line for line in lines if line.startswith("wrote ")]
        assert len(wrote) == 1 and wrote[0].startswith(
            f"wrote 2 rows x 3 columns, 2024-01-01T00:00:00.000000000Z .. 2024-01-01T00:00:01.000000007Z, "
            f"to {work / 'influxdb.csv'} (0.0 MB) in "), result.stdout
        assert lines[-3:] == [
            f"[influxdb-connector] cnvrg dataset '{SLUG}' does not exist; creating it",
            f"[influxdb-connector] uploaded influxdb.csv to cnvrg dataset '{SLUG}', commit {commit}",
            f"uploaded to cnvrg dataset {NAME!r}: commit {commit}"], result.stdout
        assert server.token not in result.stdout and server.jwt not in result.stdout
        assert server.routes() == LOGIN + ["dataset", "create_dataset"] + UPLOAD


# ---------------------------------------------------------------- a 5xx that does not go away (slow)
#
# cnvrgv2 retries every 5xx 8 times, sleeping 1, 4, 9, ... 64 s: 204 s before the error surfaces.
# That run starts in a subprocess when this module starts and is checked by the last test in this file, so
# the wait overlaps the other tests.

_PERMANENT_500 = r"""
import sys
from pathlib import Path
from connector.errors import OutputError
from connector.publish import publish
try:
    publish(Path("data.csv"), sys.argv[1], sys.argv[2])
except OutputError as exc:
    print("OutputError:", exc)
    sys.exit(3)
print("no error")
"""


@pytest.fixture(scope="module", autouse=True)
def permanent_500(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("permanent500")
    work = root / "cnvrg"
    work.mkdir()
    (work / "data.csv").write_bytes(b"a\n1\n")
    (root / "home").mkdir()
    with FakeCnvrg() as server:
        server.add_dataset(NAME)
        server.fail("dataset", 500)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CNVRG_", "AWS_"))}
        env.update(server.env(), HOME=str(root / "home"), PYTHONPATH=str(REPO))
        proc = subprocess.Popen([sys.executable, "-c", _PERMANENT_500, NAME, MESSAGE], cwd=work, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            yield server, proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


def test_a_500_that_persists_is_not_missing_and_names_dataset_and_status(permanent_500) -> None:
    server, proc = permanent_500
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 3, (out, err)
    assert err == ""
    assert out == (f"OutputError: cnvrg refused the upload to dataset '{SLUG}' (500): "
                   f"A server error has occurred.\n")
    assert server.routes() == LOGIN + ["dataset"] * 9  # the first try and 8 retries; never a create
    assert server.commits == {} and list(server.datasets) == [f"{server.org}/{SLUG}"]
