"""Alembic environment: runs with the connection that storage.migrate hands it."""
from alembic import context

# Importing the model modules registers their tables.
from storage import (audit_models, case_models, custody_models, device_models, ingest_models, link_models,  # noqa: F401
                     models, processing_models, retention_models)
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
