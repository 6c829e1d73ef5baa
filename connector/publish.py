"""Upload the finished file to a cnvrg dataset with cnvrgv2 (imported only when asked).

What cnvrgv2 1.1.8 does that this module has to handle (tests/test_publish.py pins each one):

- ``put_files`` names the file in the dataset by the path string it is given, resolved
  against the current directory (an absolute path becomes the dataset file
  ``/tmp/x/data.csv``). We never chdir: the file goes up by its path relative to the
  current directory (in a cnvrg job that is /cnvrg, where the file is by default), and a
  file outside the current directory is refused with a clear line.
- ``Cnvrg()`` logging in with ``CNVRG_TOKEN`` takes the organization from the login answer
  (the user's default one), not from ``CNVRG_ORGANIZATION``: we pass it explicitly.
- A failed object-storage upload is only ``print()``ed by cnvrgv2 (its minio client), which
  then commits the file record anyway. cnvrgv2's stdout is captured during the upload, and
  anything it printed fails the upload.
- Server text is quoted verbatim in cnvrgv2's errors (a proxy's HTML page, an echoed token):
  we make it one line, cut it short and redact the cnvrg token.
- A connection failure escapes as a ``requests`` exception, not a ``CnvrgError``.
- A ``.cnvrgignore`` in the current directory (or at the root of a ``.cnvrg`` folder above
  it) can silently exclude the file: then no commit is made.
- Any 5xx is retried by cnvrgv2 8 times with 1, 4, 9 ... 64 s pauses (204 s) before it fails.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
from pathlib import Path

from .errors import OutputError, redact

log = logging.getLogger("connector")

LOGIN_ENV = ("CNVRG_URL", "CNVRG_TOKEN", "CNVRG_EMAIL", "CNVRG_ORGANIZATION")
_MAX_QUOTE = 300


def dataset_slug(name: str) -> str:
    """cnvrg's slug for a dataset name: lower case, spaces as hyphens."""
    return "-".join(name.strip().lower().split())


def _quote(text: object, secrets: list[str | None]) -> str:
    """Server or SDK text as one short line without the cnvrg tokens."""
    text = redact(" ".join(str(text).split()), *secrets)
    return text if len(text) <= _MAX_QUOTE else text[:_MAX_QUOTE - 3] + "..."


def _upload_name(path: Path) -> str:
    """The path put_files gets, which is also the file's name in the dataset: relative to the cwd."""
    cwd = Path.cwd().resolve()
    try:
        return path.resolve().relative_to(cwd).as_posix()
    except ValueError:
        raise OutputError(
            f"cannot upload {path} to cnvrg: cnvrgv2 names a dataset file by its path from the current "
            f"directory ({cwd}) and the file is outside it; set local_dir to a folder under {cwd}") from None


def _missing_login_env() -> list[str]:
    missing = [key for key in LOGIN_ENV if not os.environ.get(key)]
    if "CNVRG_TOKEN" in missing and os.environ.get("CNVRG_JWT_TOKEN"):
        missing.remove("CNVRG_TOKEN")
    return missing


def publish(path: Path, dataset: str, message: str) -> str:
    """Find the dataset (create it only when cnvrg says 404), upload, return the commit sha1."""
    try:
        import requests
        from cnvrgv2 import Cnvrg
        from cnvrgv2.errors import CnvrgError, CnvrgHttpError, CnvrgLoginError
    except ImportError:
        raise OutputError("cnvrg_dataset needs the cnvrgv2 package: pip install cnvrgv2") from None
    if not path.is_file():
        raise OutputError(f"cannot upload {path}: the file does not exist")
    slug = dataset_slug(dataset)
    name = _upload_name(path)
    printed = io.StringIO()  # cnvrgv2 print()s what goes wrong in its upload threads
    secrets = [os.environ.get("CNVRG_TOKEN"), os.environ.get("CNVRG_JWT_TOKEN")]
    try:
        # Only cnvrgv2's calls run with stdout captured: our own log lines (which go to
        # stdout too) must not be taken for something cnvrgv2 printed.
        with contextlib.redirect_stdout(printed):
            cnvrg = Cnvrg(organization=os.environ.get("CNVRG_ORGANIZATION") or None)
            secrets.append(getattr(getattr(cnvrg, "_context", None), "token", None))  # the session token
            handle = cnvrg.datasets.get(slug)
            try:
                handle.reload()
                missing = False
            except CnvrgHttpError as exc:
                if getattr(exc, "status_code", None) != 404:
                    raise
                missing = True
        if missing:
            log.info("cnvrg dataset %r does not exist; creating it", slug)
            with contextlib.redirect_stdout(printed):
                handle = cnvrg.datasets.create(name=dataset.strip())
        with contextlib.redirect_stdout(printed):
            commit = handle.put_files(paths=[name], message=message, dir_path="", threads=1)
    except CnvrgLoginError as exc:
        missing = _missing_login_env()
        hint = f" (set {', '.join(missing)}; cnvrg sets them in a job)" if missing else ""
        raise OutputError(f"cannot log in to cnvrg to upload to dataset {slug!r}: "
                          f"{_quote(exc, secrets)}{hint}") from None
    except CnvrgHttpError as exc:
        raise OutputError(f"cnvrg refused the upload to dataset {slug!r} "
                          f"({getattr(exc, 'status_code', '?')}): {_quote(exc, secrets)}") from None
    except CnvrgError as exc:
        raise OutputError(f"uploading to cnvrg dataset {slug!r} failed: {_quote(exc, secrets)}") from None
    except requests.RequestException as exc:
        raise OutputError(f"cannot reach cnvrg at {os.environ.get('CNVRG_URL')!r} to upload to dataset "
                          f"{slug!r}: {type(exc).__name__}") from None
    finally:
        for line in printed.getvalue().splitlines():
            if line.strip():
                log.debug("cnvrgv2 printed: %s", _quote(line, secrets))
    said = [line for line in printed.getvalue().splitlines() if line.strip()]
    if said:
        made = f"; commit {commit} may lack the file" if commit else ""
        raise OutputError(f"uploading {name} to cnvrg dataset {slug!r} failed: {_quote(said[0], secrets)}{made}")
    if not commit:
        raise OutputError(f"cnvrg made no commit for {name} in dataset {slug!r}: nothing was uploaded "
                          f"(is {name} excluded by a .cnvrgignore?)")
    log.info("uploaded %s to cnvrg dataset %r, commit %s", name, slug, commit)
    return str(commit)
