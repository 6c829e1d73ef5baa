"""The errors a user can see, each carrying one line of text and an exit code.

    ConnectorError            base: anything the entry script turns into one line
    +-- ParameterError        a bad or missing parameter (exit 2); fix the call
    +-- ServerRefused         the server answered and said no: 400/401/403/404 (exit 1); do not retry
    +-- ServerUnavailable     connection failed, timed out, 429 or 5xx (exit 1); worth retrying
    +-- DataError             the data cannot become a correct file: no rows, a cut answer,
    |                         a column clash (exit 1)
    +-- OutputError           the file or the cnvrg upload failed (exit 1)

Messages never contain the token: `redact` is applied wherever server text is quoted.
"""
from __future__ import annotations


class ConnectorError(Exception):
    """Base of every error the user should see as one line."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ParameterError(ConnectorError):
    """One or more parameters are invalid; the message names each of them."""

    exit_code = 2

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class ServerRefused(ConnectorError):
    """The server understood the request and refused it (bad query, auth, not found)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ServerUnavailable(ConnectorError):
    """The server could not be reached or was overloaded; retrying may help."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class DataError(ConnectorError):
    """The server's answer cannot become a correct file (no data, cut answer, clashing columns)."""


class OutputError(ConnectorError):
    """Writing the file or uploading it to cnvrg failed."""


def redact(text: str, *secrets: str | None) -> str:
    """Replace every secret (and a user:password's password) in text by ***."""
    for secret in secrets:
        if not secret:
            continue
        text = text.replace(secret, "***").replace(repr(secret)[1:-1], "***")
        if ":" in secret:
            password = secret.split(":", 1)[1]
            if len(password) >= 3:
                text = text.replace(password, "***")
    return text
