"""Upload the finished file to a cnvrg dataset with cnvrgv2 (imported only when asked)."""
from __future__ import annotations

import logging
from pathlib import Path

from .errors import OutputError

log = logging.getLogger("connector")


def dataset_slug(name: str) -> str:
    """cnvrg's slug for a dataset name: lower case, spaces as hyphens."""
    return "-".join(name.strip().lower().split())


def publish(path: Path, dataset: str, message: str) -> str:
    """Find the dataset (create it only when cnvrg says 404), upload, return the commit sha1."""
    try:
        from cnvrgv2 import Cnvrg
        from cnvrgv2.errors import CnvrgError, CnvrgHttpError
    except ImportError:
        raise OutputError("cnvrg_dataset needs the cnvrgv2 package: pip install cnvrgv2") from None
    if not path.is_file():
        raise OutputError(f"cannot upload {path}: the file does not exist")
    slug = dataset_slug(dataset)
    try:
        cnvrg = Cnvrg()
        handle = cnvrg.datasets.get(slug)
        try:
            handle.reload()
        except CnvrgHttpError as exc:
            if getattr(exc, "status_code", None) != 404:
                raise
            log.info("cnvrg dataset %r does not exist; creating it", slug)
            handle = cnvrg.datasets.create(name=dataset.strip())
        commit = handle.put_files(paths=[str(path)], message=message, dir_path="")
    except CnvrgHttpError as exc:
        raise OutputError(f"cnvrg refused the upload to dataset {slug!r} "
                          f"({getattr(exc, 'status_code', '?')}): {exc}") from None
    except CnvrgError as exc:
        raise OutputError(f"uploading to cnvrg dataset {slug!r} failed: {exc}") from None
    if not commit:
        raise OutputError(f"cnvrg made no commit for {path.name} in dataset {slug!r}: nothing was uploaded")
    log.info("uploaded %s to cnvrg dataset %r, commit %s", path.name, slug, commit)
    return str(commit)
