"""Roster import: a unit's list of members from an .xlsx or .csv file, validated row by row.

(Filled in by the roster import feature; the table that keeps an uploaded file between the
validation report and the official's choice lives here.)
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, String
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow


class PendingImport(SQLModel, table=True):
    """An uploaded roster waiting for the official's decision ("import the valid rows")."""

    __tablename__ = "pending_import"

    id: int | None = Field(default=None, primary_key=True)
    identity_id: int = Field(foreign_key="identity.id", index=True)
    # The unit given with --unit, or the official's unit: rows without a unit code go there.
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    filename: str = Field(sa_column=Column(String(255), nullable=False))
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
