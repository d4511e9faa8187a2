"""Alembic environment: runs with the connection that storage.migrate hands it."""
from alembic import context

from storage import ingest_models, models, processing_models  # noqa: F401  (registers the tables)
from storage.db import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `fullrecord db upgrade`, which supplies the connection")
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
