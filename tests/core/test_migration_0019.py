"""Migration 0019 drops the prospects' trigram indexes on PostgreSQL (the contacts' stay),
goes down (creating them again) and up; on SQLite it changes nothing."""

from __future__ import annotations

import asyncio
import importlib.util
from types import ModuleType

from alembic import command

from tests.support.databases import indexes
from webapp.core.migrate import MIGRATIONS, alembic_config, upgrade


def _migration() -> ModuleType:
    path = next((MIGRATIONS / "versions").glob("*_drop_prospect_trigram_indexes.py"))
    spec = importlib.util.spec_from_file_location("drop_prospect_trigram_indexes", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MIGRATION = _migration()
REVISION, BEFORE = MIGRATION.revision, MIGRATION.down_revision


async def _index_names(url: str) -> set[str]:
    return set(await indexes(url, "prospects", "contacts"))


async def test_the_prospects_trigram_indexes_go_and_come_back(empty_url: str) -> None:
    postgres = empty_url.startswith("postgresql")
    prospects = {"ix_prospects_name_trgm", "ix_prospects_domain_trgm"}
    contacts = {"ix_contacts_email_trgm", "ix_contacts_name_trgm"}
    await asyncio.to_thread(upgrade, empty_url, BEFORE)
    assert ((prospects | contacts) <= await _index_names(empty_url)) is postgres
    await asyncio.to_thread(upgrade, empty_url, REVISION)
    found = await _index_names(empty_url)
    assert not found & prospects
    assert (contacts <= found) is postgres
    assert {"ix_prospects_search", "ix_contacts_search"} <= found
    await asyncio.to_thread(command.downgrade, alembic_config(empty_url), BEFORE)
    assert (prospects <= await _index_names(empty_url)) is postgres
    await asyncio.to_thread(upgrade, empty_url, REVISION)
    assert not await _index_names(empty_url) & prospects
