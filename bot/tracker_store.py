"""`ThreadedSQLTrackerStore`: Rasa's `SQLTrackerStore` with its queries run off the event loop.

Rasa 3.6's `SQLTrackerStore.retrieve/save` are `async def` but run SQLAlchemy synchronously, so every tracker
load and save blocks the whole Rasa process (webhook acknowledgements included) for a database round trip or
three. Measured here (docs/scaling.md) that blocking, not CPU, capped one Rasa process with a PostgreSQL tracker
at about half the turns/s of the in-memory store. This subclass keeps Rasa's schema, queries and session
handling (its own `_event_query`, `_additional_events` and `session_scope`) and only moves them to a worker
thread; psycopg2 releases the GIL while it waits on the server. Turn order is unaffected: Rasa holds the
conversation's lock (Redis lock store) around the load and the save.

`endpoints.production.yml`: `tracker_store: type: bot.tracker_store.ThreadedSQLTrackerStore` with the same
keys as Rasa's `type: SQL`.

Rasa's `session_scope` also asks PostgreSQL whether the POSTGRESQL_SCHEMA schema exists, at the start of every
session: two extra round trips per turn. Here it asks once per store, with Rasa's own check and exit message;
a schema dropped later shows up as the failing query it causes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

logger = logging.getLogger(__name__)


class ThreadedSQLTrackerStore(SQLTrackerStore):
    """`SQLTrackerStore` whose database work runs in a thread, so the event loop keeps serving other turns."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Event rows hold residents' messages: a failed INSERT must not print them (as our own engines don't).
        # Rasa builds the engine itself, so the flag create_engine would take is set on it afterwards.
        self.engine.hide_parameters = True

    @contextlib.contextmanager
    def session_scope(self) -> Iterator[Any]:
        """Rasa's session scope, with the schema check (`ensure_schema_exists`) in the first session only."""
        if not getattr(self, "_schema_checked", False):  # Rasa's __init__ opens a session before ours runs
            with super().session_scope() as session:  # Rasa's own: its check, its exit message
                yield session
            self._schema_checked = True
            return
        session = self.sessionmaker()
        try:
            yield session
        finally:
            session.close()

    async def keys(self) -> Iterable[str]:
        """Returns sender_ids of the tracker store."""
        return await asyncio.to_thread(self._keys)

    def _keys(self) -> list[str]:
        with self.session_scope() as session:
            return [sender_id for (sender_id,) in session.query(self.SQLEvent.sender_id).distinct().all()]

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> DialogueStateTracker | None:
        events = await asyncio.to_thread(self._serialised_events, sender_id, fetch_events_from_all_sessions)
        if not (self.domain and events):
            logger.debug(f"No tracker for sender id '{sender_id}' in SQL storage.")
            return None
        return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)

    def _serialised_events(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> list[dict[str, Any]]:
        with self.session_scope() as session:
            rows = self._event_query(
                session, sender_id, fetch_events_from_all_sessions=fetch_events_from_all_sessions
            ).all()
            return [json.loads(row.data) for row in rows]

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Stream the new events to the broker (if any), then store them, as Rasa's `save` does."""
        await self.stream_events(tracker)
        await asyncio.to_thread(self._save_new_events, tracker)
        logger.debug(f"Tracker with sender_id '{tracker.sender_id}' stored to database")

    def _save_new_events(self, tracker: DialogueStateTracker) -> None:
        """Rasa's rows for the events not yet stored, written as one Core executemany INSERT.

        Rasa adds one ORM object per event and flushes them through the unit of work, which tracks each object
        and then discards it. The same rows through Core cost 1.8 ms of CPU instead of 2.7 ms for a save of
        twelve events on PostgreSQL; the tracker save was 10 % of a Rasa server's GIL time under load.
        """
        with self.session_scope() as session:
            rows = [self._row(tracker.sender_id, event) for event in self._additional_events(session, tracker)]
            if rows:
                session.execute(self.SQLEvent.__table__.insert(), rows)
            session.commit()

    @staticmethod
    def _row(sender_id: str, event: Event) -> dict[str, Any]:
        data = event.as_dict()
        return {
            "sender_id": sender_id,
            "type_name": event.type_name,
            "timestamp": data.get("timestamp"),
            "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            "action_name": data.get("name"),
            "data": json.dumps(data),
        }
