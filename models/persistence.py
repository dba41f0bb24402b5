"""Tables behind the chat runtime's persistence: conversation states and per-user/chat data.

Plain tables with JSON text, so `models/` stays free of chat libraries; `bot/persistence.py`
adapts them to python-telegram-bot's BasePersistence.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, String, Text
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow

# Each channel's rows are told apart by a prefix on conversation names and data owners (the
# same numbers are different people on Telegram and Zalo): keyed by channel name.
NAMESPACE = {"telegram": "", "zalo": "zalo:"}


class ConversationState(SQLModel, table=True):
    __tablename__ = "conversation_state"

    # The conversation's name, and its key (chat/user ids) as JSON text.
    name: str = Field(sa_column=Column(String(64), primary_key=True))
    key: str = Field(sa_column=Column(String(128), primary_key=True))
    state: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class StoredData(SQLModel, table=True):
    """user_data / chat_data / bot_data, one JSON document per owner."""

    __tablename__ = "stored_data"

    kind: str = Field(sa_column=Column(String(8), primary_key=True))
    owner: str = Field(sa_column=Column(String(64), primary_key=True))
    data: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
