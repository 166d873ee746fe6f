"""Finding the database: DATABASE_URL when given, otherwise the embedded PostgreSQL.

Either way the schema is brought up to date before anything else touches it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rpc_fulfillment.config import Settings
from rpc_fulfillment.embedded import DATABASE_NAME, EmbeddedDatabase, ensure_database, start_embedded
from rpc_fulfillment.db.pool import connect
from rpc_fulfillment.db.migrate import migrate


@dataclass
class Database:
    url: str
    embedded: EmbeddedDatabase | None
    created: bool  # the embedded database did not exist before this start


async def open_database(settings: Settings, *, stop_embedded_on_exit: bool = True) -> Database:
    if settings.database_url:
        database = Database(settings.database_url, None, False)
    else:
        embedded = start_embedded(settings.data_dir, stop_on_exit=stop_embedded_on_exit)
        created = await ensure_database(embedded.url("postgres"), DATABASE_NAME)
        database = Database(embedded.url(), embedded, created)
    connection = await connect(database.url)
    try:
        await migrate(connection)
    finally:
        await connection.close()
    return database
