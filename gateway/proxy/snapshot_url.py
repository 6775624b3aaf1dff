"""A snapshot published at an HTTP(S) URL, polled with ETag / If-None-Match.

CI publishes `snapshot.json` anywhere static (a bucket, a web server, a ConfigMap behind
nginx); every replica polls it. An unchanged snapshot costs one `304 Not Modified` per poll.
A body that arrives is handed to the holder, which refuses it like a broken file (the old
snapshot keeps serving); its ETag is kept all the same, so a broken publication is fetched
once, not on every poll, and the next publication replaces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

# A larger body is refused as soon as its download passes the size (not read to the end).
from gateway.catalog.snapshot import MAX_SNAPSHOT_BYTES, Snapshot

if TYPE_CHECKING:
    import httpx  # imported when first used: file and catalog sources start without it

log = logging.getLogger("modelyard.proxy")

DEFAULT_POLL_INTERVAL_S = 10.0
#: Seconds one fetch may take, connect to last byte.
FETCH_TIMEOUT_S = 10.0


class SnapshotFetchError(OSError):
    """The URL did not give a snapshot body (connection error, HTTP error, too large)."""


def is_snapshot_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def redacted(url: str) -> str:
    """The URL without credentials or query string (a signed URL's query is a secret)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class SnapshotURL:
    """A compiled snapshot behind an HTTP(S) URL, polled every `poll_interval_s` seconds."""

    def __init__(self, url: str, poll_interval_s: float = DEFAULT_POLL_INTERVAL_S) -> None:
        if not is_snapshot_url(url):
            raise ValueError(f"not an http(s) URL: {redacted(url)}")
        if poll_interval_s <= 0:
            raise ValueError("the poll interval must be positive")
        self.url = url
        self.poll_interval_s = poll_interval_s
        self.etag: str | None = None
        self._pending: bytes | SnapshotFetchError | None = None
        self._last_error: str | None = None
        self._last_body: bytes | None = None  # sha256 of the last body handed over

    def __repr__(self) -> str:
        return f"SnapshotURL({redacted(self.url)!r})"

    def read(self) -> Snapshot:
        """The body the last poll brought, or else a fresh unconditional fetch."""
        pending, self._pending = self._pending, None
        if isinstance(pending, SnapshotFetchError):
            raise pending
        if pending is None:
            import httpx

            try:
                with httpx.Client(timeout=FETCH_TIMEOUT_S) as http:
                    pending = self._fetch_sync(http)
            except SnapshotFetchError as error:
                self._last_error = str(error)  # the polls after it need not say it again
                raise
            self._last_body = hashlib.sha256(pending).digest()
        return Snapshot.from_bytes(pending)

    def _fetch_sync(self, http: httpx.Client) -> bytes:
        import httpx

        try:
            with http.stream("GET", self.url) as response:
                self._expect_200(response)
                body = bytearray()
                for chunk in response.iter_bytes():
                    self._append(body, chunk)
                self.etag = response.headers.get("etag")
                return bytes(body)
        except httpx.HTTPError as error:
            raise SnapshotFetchError(self._describe(error)) from None

    def _expect_200(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            raise SnapshotFetchError(f"{redacted(self.url)} answered {response.status_code}")

    def _append(self, body: bytearray, chunk: bytes) -> None:
        body += chunk
        if len(body) > MAX_SNAPSHOT_BYTES:
            raise SnapshotFetchError(
                f"{redacted(self.url)} is larger than {MAX_SNAPSHOT_BYTES} bytes"
            )

    def _describe(self, error: httpx.HTTPError) -> str:
        # httpx puts the full URL (query and credentials too) into some messages: not ours.
        return f"fetching {redacted(self.url)} failed: {type(error).__name__}"

    async def changes(self, stop: asyncio.Event) -> AsyncIterator[None]:
        """Poll until `stop`; yield when a new body (or a new kind of failure) is waiting."""
        import httpx

        async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_S) as http:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_interval_s)
                    return
                if await self._poll(http):
                    yield None

    async def _poll(self, http: httpx.AsyncClient) -> bool:
        import httpx

        headers = {"if-none-match": self.etag} if self.etag else {}
        try:
            async with http.stream("GET", self.url, headers=headers) as response:
                if response.status_code == 304:
                    self._last_error = None
                    return False
                self._expect_200(response)
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    self._append(body, chunk)
                self.etag, self._last_error = response.headers.get("etag"), None
                # A host without ETags sends the same body on every poll: no reload for it.
                seen = hashlib.sha256(body).digest()
                if seen == self._last_body:
                    return False
                self._pending, self._last_body = bytes(body), seen
                return True
        except (httpx.HTTPError, SnapshotFetchError) as error:
            message = self._describe(error) if isinstance(error, httpx.HTTPError) else str(error)
            log.warning("snapshot poll: %s", message)
            if message == self._last_error:
                return False  # said once in /readyz already; not a refusal per poll
            self._pending, self._last_error = SnapshotFetchError(message), message
            return True
