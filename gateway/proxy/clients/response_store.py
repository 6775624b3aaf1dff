"""Stored responses of the Responses API (`store`, `previous_response_id`, retrieve, delete).

A stored response is a document of the state's document store (gateway/state/documents.py)
in the collection `responses`: SQLite under the proxy's state directory by default, Redis
when the state is shared through it (`serve --state redis://...`), so any replica can
continue, retrieve or delete what another stored. Each stored response belongs to the
consumer that created it; any other consumer is told it does not exist. Responses live
`max_age_s` (as long as OpenAI keeps one); in SQLite, when the stored bytes pass the
store's bound, the oldest go first (checked on every write).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.state.documents import DocumentStore

COLLECTION = "responses"
MAX_AGE_S = 30 * 24 * 3600  # as long as OpenAI keeps a stored response


@dataclass(frozen=True, slots=True)
class Stored:
    """A stored response and the whole conversation it answered (history included)."""

    response: dict[str, Any]
    input: list[dict[str, Any]]


class ResponseStore:
    """Stored responses over a document store; raises DocumentsUnavailable (503) when the
    store cannot be reached."""

    def __init__(self, documents: DocumentStore, *, max_age_s: float = MAX_AGE_S) -> None:
        self.documents = documents
        self.max_age_s = max_age_s

    async def put(
        self, consumer: str, response: dict[str, Any], input: list[dict[str, Any]]
    ) -> None:
        """Keep `response` (by its id) and the input items it answered."""
        await self.documents.put(
            COLLECTION,
            response["id"],
            owner=consumer,
            document={"response": response, "input": input},
            ttl_s=self.max_age_s,
        )

    async def get(self, consumer: str, id: str) -> Stored | None:
        """The response if `consumer` stored it and it was not evicted, else None."""
        document = await self.documents.get(COLLECTION, id, owner=consumer)
        return None if document is None else Stored(document["response"], document["input"])

    async def delete(self, consumer: str, id: str) -> bool:
        """Forget the response; False when `consumer` has none of that id."""
        return await self.documents.delete(COLLECTION, id, owner=consumer)
