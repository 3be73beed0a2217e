"""What a published bank version shows: its items' texts, dimensions' names and scales' labels.

Each published version gets the texts the bank holds when the migration runs — the texts it has
shown until now, since they lived only on the item, dimension and scale rows. Drafts keep NULL:
they show the bank's current texts.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _document() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


#: the tables as this migration reads and writes them (not the application's models, which move on)
_meta = sa.MetaData()
_versions = sa.Table("bank_versions", _meta, sa.Column("number", sa.Integer),
                     sa.Column("status", sa.String(16)), sa.Column("fit", _document()),
                     sa.Column("content", _document()))
_parameters = sa.Table("item_parameters", _meta, sa.Column("version", sa.Integer),
                       sa.Column("item_id", sa.String(64)))
_items = sa.Table("items", _meta, sa.Column("id", sa.String(64)),
                  sa.Column("document", _document()))
_dimensions = sa.Table("dimensions", _meta, sa.Column("id", sa.String(64)),
                       sa.Column("document", _document()))
_scales = sa.Table("scales", _meta, sa.Column("id", sa.String(64)),
                   sa.Column("document", _document()))


def _content(c: sa.Connection, number: int, fit: dict[str, Any]) -> dict[str, Any]:
    """The content of published version ``number`` from the rows as they are."""
    ids = set(c.scalars(sa.select(_parameters.c.item_id).where(_parameters.c.version == number)))
    items = {i: d for i, d in c.execute(sa.select(_items.c.id, _items.c.document)) if i in ids}
    names = set((fit.get("latent") or {}).get("factor_names") or ())
    used = {d["scale"] for d in items.values() if d.get("scale")}
    return {
        "items": {i: {k: d[k] for k in ("text", "statements") if d.get(k) is not None}
                  for i, d in items.items()},
        "dimensions": {i: d for i, d in c.execute(sa.select(_dimensions.c.id, _dimensions.c.document))
                       if i in names},
        "scales": {i: d for i, d in c.execute(sa.select(_scales.c.id, _scales.c.document))
                   if i in used},
    }


def upgrade() -> None:
    """Add the column; fill it for published versions."""
    with op.batch_alter_table("bank_versions") as batch:
        batch.add_column(sa.Column("content", _document()))
    c = op.get_bind()
    published = c.execute(sa.select(_versions.c.number, _versions.c.fit)
                          .where(_versions.c.status == "published")).all()
    for number, fit in published:
        c.execute(sa.update(_versions).where(_versions.c.number == number)
                  .values(content=_content(c, number, fit)))


def downgrade() -> None:
    """Drop the column (published versions show the bank's current texts again).

    A plain ``ALTER TABLE … DROP COLUMN`` (SQLite ≥ 3.35 has it): a batch operation would copy
    the table, which other tables' foreign keys refer to.
    """
    op.execute("ALTER TABLE bank_versions DROP COLUMN content")
