"""Each member's record by school year: the titles they achieved and the initiatives recognised
with them as an author, and which titles' requirements they meet ("Chiến sĩ thi đua cơ sở" asks
for "Lao động tiên tiến" and a recognised initiative; higher titles ask for recognition at
higher levels over consecutive years).

Titles achieved through a movement are its registrations with the result "achieved"; titles
achieved before the bot was used (or outside it) are TitleAward rows recorded by officials.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow


class TitleAward(SQLModel, table=True):
    """A title a member achieved outside the bot's movements (an earlier year's decision),
    recorded by an official: one per member, school year and title."""

    __tablename__ = "title_award"
    __table_args__ = (UniqueConstraint("member_id", "school_year", "title_code"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("member.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    school_year: str = Field(sa_column=Column(String(9), nullable=False))
    title_code: str = Field(sa_column=Column(String(32), nullable=False))
    title_name: str = Field(sa_column=Column(String(255), nullable=False))
    # The decision it comes from ("Quyết định số 123/QĐ-CĐGD"), as typed.
    decision: str | None = Field(default=None, sa_column=Column(String(255)))
    recorded_by_member_id: int | None = Field(default=None)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
