"""Bulk inserts for imports: rows go to the database driver as plain tuples.

An import writes thousands of rows per batch. Through SQLAlchemy's
`insert(table)` each row is a dictionary whose every value is processed and
bound one at a time, which costs more than the database's own work. Here the
values are converted once with the same type processors SQLAlchemy would use
(so a JSON column or a UTC timestamp is stored exactly as the ORM stores it),
and the rows are handed over as tuples: multi-row INSERTs on SQLite, a binary
`COPY` on PostgreSQL (asyncpg's `copy_records_to_table`), inside the
session's transaction either way. A row the database refuses raises
SQLAlchemy's `IntegrityError` or `DBAPIError`, as an ORM insert would.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from itertools import chain
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Select,
    Table,
    any_,
    bindparam,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

SQLITE_ROWS_PER_INSERT = 500
"""Rows per INSERT statement on SQLite (a few statement texts, each prepared once)."""
SQLITE_MAX_VARIABLES = 32_766
"""SQLite's bound on parameters per statement (SQLITE_MAX_VARIABLE_NUMBER since 3.32)."""


def _processors(table: Table, names: Sequence[str], dialect: Dialect) -> list[Any]:
    return [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names]


async def insert_rows(
    session: AsyncSession,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    constants: Mapping[str, Any],
    *,
    prepared: Collection[str] = (),
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]] | None:
    """Insert `rows` (values in the order of `columns`), each with the same `constants`.

    Values of the `prepared` columns are already in the driver's form (a JSON
    column's text, made as SQLAlchemy's JSON type makes it) and are not
    converted again. The session's transaction must already be open (a
    statement has run in it): PostgreSQL's COPY goes through the driver's
    connection directly. With `returning` (column names), SQLite answers the
    inserted rows' values of those columns, in no particular order (the
    INSERT's RETURNING: no look-up afterwards); PostgreSQL's COPY cannot, and
    None means "look them up".
    """
    connection = await session.connection()
    dialect = connection.dialect
    fixed = list(constants)
    fixed_values = tuple(
        value if process is None else process(value)
        for value, process in zip(
            constants.values(), _processors(table, fixed, dialect), strict=True
        )
    )
    converters = [
        (index, process)
        for index, process in enumerate(_processors(table, columns, dialect))
        if process is not None and columns[index] not in prepared
    ]
    records: list[tuple[Any, ...]] = []
    for row in rows:
        if converters:
            values = list(row)
            for index, process in converters:
                values[index] = process(values[index])
            row = values
        records.append((*row, *fixed_values))
    if not records:
        return [] if returning and dialect.name != "postgresql" else None
    names = [*columns, *fixed]
    if dialect.name == "postgresql":
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        try:
            await driver.copy_records_to_table(table.name, records=records, columns=names)
        except Exception as error:  # asyncpg's own errors, as SQLAlchemy raises them
            _reraise(error, f"COPY {table.name}")
        return None
    # SQLite: many rows per INSERT. With triggers on the table (the campaign figures of
    # migration 0017) each statement opens its own undo journal, so one statement per
    # row through executemany cost five times the insert itself.
    group = max(1, min(SQLITE_ROWS_PER_INSERT, SQLITE_MAX_VARIABLES // len(names)))
    row_marks = "(" + ", ".join("?" for _ in names) + ")"
    head = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES "  # noqa: S608
    tail = f" RETURNING {', '.join(returning)}" if returning else ""
    statements: dict[int, str] = {}
    answered: list[tuple[Any, ...]] = []
    for start in range(0, len(records), group):
        chunk = records[start : start + group]
        statement = statements.get(len(chunk))
        if statement is None:
            statement = head + ", ".join([row_marks] * len(chunk)) + tail
            statements[len(chunk)] = statement
        result = await connection.exec_driver_sql(statement, tuple(chain.from_iterable(chunk)))
        if returning:
            answered.extend(tuple(row) for row in result.all())
    return answered if returning else None


def _reraise(error: Exception, statement: str) -> None:
    """Raise a driver error as SQLAlchemy would: IntegrityError for a violated constraint."""
    import asyncpg

    if isinstance(error, asyncpg.IntegrityConstraintViolationError):
        raise IntegrityError(statement, None, error) from error
    if isinstance(error, asyncpg.PostgresError):
        raise DBAPIError(statement, None, error) from error
    raise error


def one_of(column: ColumnElement[Any], values: Sequence[Any], dialect: str) -> ColumnElement[bool]:
    """`column IN (values)` with the values as one parameter, however many they are.

    SQLAlchemy's `in_()` binds and names each value of the list at every
    execution (about 4 µs of CPU per imported row, as a batch looks up its keys,
    its emails and its new ids). Here the list is one array on PostgreSQL
    (`= ANY($1)`) and one JSON text on SQLite (`IN (SELECT value FROM
    json_each(?))`); both still use the column's index.
    """
    if dialect == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    listed: Select[Any] = select(literal_column("value")).select_from(
        func.json_each(bindparam(None, json.dumps(list(values))))
    )
    return column.in_(listed)


async def refresh_statistics(session: AsyncSession, columns: Mapping[Table, Sequence[str]]) -> None:
    """Let PostgreSQL's planner see how big the tables have grown (no-op on SQLite).

    A bulk import fills tables faster than autovacuum re-samples them. Planned
    against the statistics of a nearly empty table, the look-up of a batch's
    emails walked every contact of the campaign and filtered them, so each
    batch took longer than the last (seconds per batch at 100,000 rows).
    `ANALYZE` samples a fixed number of rows and invalidates the plans made
    before it. Only the `columns` the import's look-ups filter by are
    analysed (the table's size is refreshed either way): a whole-table
    `ANALYZE` also sorts every text column and index expression of its
    sample, 0.4-0.7 s per table at 100,000 rows against about 0.1 s, seven
    times per such import; autovacuum keeps the other columns' statistics
    as it always has.
    """
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        return
    targets = ", ".join(f"{table.name} ({', '.join(names)})" for table, names in columns.items())
    await connection.execute(text(f"ANALYZE {targets}"))
