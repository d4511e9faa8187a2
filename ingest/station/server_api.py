"""The agent's calls to the fullrecord server other than the upload itself: receipts, the clip
that confirms one, clock readings and the agent's status report.

Every failure is one of two kinds, so the agent knows what to do: `Unavailable` (the network,
a 5xx, 423, 429: try again later) or `Refused` (a 4xx the same request would get again: record
the server's message as the reason).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urljoin

import requests

RETRYABLE_STATUSES = frozenset({401, 403, 408, 423, 425, 429})
"""401/403 too: a revoked or wrong token is the station's problem, not the file's; the files wait
(the reason says why) until the token is fixed, rather than all failing."""


class ServerError(Exception):
    """`step`: what the agent was doing (a catalogue key under station.step.); `detail`: the
    server's own message (in the agent's language) or what went wrong on the way."""

    def __init__(self, step: str, detail: str, status: int | None = None):
        super().__init__(f"{step}: {detail}")
        self.step, self.detail, self.status = step, detail, status

    def text(self, language: str) -> str:
        from server.i18n import t
        return t("station.reason.server", language, step=t(f"station.step.{self.step}", language),
                 detail=self.detail)


class Unavailable(ServerError):
    """Not reachable or not able to answer now; the same request may succeed later."""


class Refused(ServerError):
    """The server refused the request; sending it again would not help."""


@dataclass(frozen=True)
class Receipt:
    clip_id: str
    sha256: str
    size: int


def _message_of(body: bytes, fallback: str) -> str:
    """The server's own message (its JSON `message`), else the start of the body."""
    try:
        parsed = json.loads(body)
    except ValueError:  # not JSON (a proxy's error page): its text is the message
        parsed = None
    message = parsed.get("message") if isinstance(parsed, dict) else None
    if isinstance(message, dict):
        message = "; ".join(f"{key}: {value}" for key, value in message.items())
    return str(message) if message else (body[:200].decode("utf-8", "replace").strip() or fallback)


def error_for(step: str, status: int, body: bytes, fallback: str = "") -> ServerError:
    """Unavailable (try later) or Refused (the file's reason) for an HTTP error answer."""
    kind = Unavailable if status >= 500 or status in RETRYABLE_STATUSES else Refused
    return kind(step, f"HTTP {status}: {_message_of(body, fallback)}", status)


def raise_for(response: requests.Response, step: str) -> None:
    if response.status_code >= 400:
        raise error_for(step, response.status_code, response.content, response.reason or "")


def unreachable(step: str, exc: Exception) -> Unavailable:
    return Unavailable(step, f"{type(exc).__name__}: {str(exc)[:200]}")


def receipt_from_headers(headers) -> Receipt | None:
    """The receipt a completed tus upload carries (X-Clip-Id, X-Clip-Sha256, X-Clip-Size)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    if not lowered.get("x-clip-id"):
        return None
    return Receipt(lowered["x-clip-id"], lowered.get("x-clip-sha256", "").lower(), int(lowered.get("x-clip-size", -1)))


class ServerAPI:
    def __init__(self, base_url: str, token: str, timeout: float, language: str = "zh-CN"):
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout
        self.headers = {"Authorization": f"Bearer {token}", "Accept-Language": language}
        self._session = requests.Session()
        self._session.headers.update(self.headers)

    @property
    def uploads_url(self) -> str:
        return self.url("api/v1/uploads")

    def url(self, path: str) -> str:
        return urljoin(self.base_url, path)

    def _call(self, method: str, path_or_url: str, step: str, **kwargs) -> requests.Response:
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        try:
            response = self._session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise unreachable(step, exc) from None
        raise_for(response, step)
        return response

    def terminate(self, upload_url: str) -> None:
        """Remove an unfinished upload's partial data at the server (its file is gone)."""
        self._call("DELETE", upload_url, "terminate", headers={"Tus-Resumable": "1.0.0"})

    def upload_state(self, upload_url: str) -> dict:
        """The upload as the server has it (status, offset, length, clip_id, error)."""
        return self._call("GET", upload_url, "read_upload", headers={"Tus-Resumable": "1.0.0"}).json()

    def upload_receipt(self, upload_url: str) -> Receipt | None:
        """HEAD of the upload: its receipt once complete (the server finishes a whole upload here)."""
        response = self._call("HEAD", upload_url, "receipt", headers={"Tus-Resumable": "1.0.0"})
        return receipt_from_headers(response.headers)

    def confirm(self, receipt: Receipt) -> dict:
        """The clip the receipt names, read back: it must exist with the receipt's SHA-256."""
        clip = self._call("GET", f"api/v1/clips/{receipt.clip_id}", "confirm").json()
        if str(clip.get("sha256", "")).lower() != receipt.sha256:
            raise Refused("confirm", f"clip {receipt.clip_id}: SHA-256 {clip.get('sha256')} != {receipt.sha256}")
        return clip

    def report_clock(self, serial: str, device_time: str, station_time: str) -> dict:
        return self._call("POST", f"api/v1/devices/{requests.utils.quote(serial, safe='')}/clock-reports",
                          "clock",
                          json={"device_time": device_time, "station_time": station_time}).json()

    def report_status(self, report: dict) -> dict:
        return self._call("PUT", "api/v1/stations/me/agent", "status", json=report).json()
