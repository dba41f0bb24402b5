"""The domain: SQLModel tables and the operations on them. No chat library is imported here.

Importing this package registers every table on `SQLModel.metadata` (Alembic relies on it).
"""

from models import (  # noqa: F401
    access,
    achievements,
    announcements,
    audit,
    channels,
    initiative_calls,
    initiatives,
    linking,
    members,
    movement_units,
    movements,
    onboarding,
    org,
    outbox,
    persistence,
    reminders,
    roster,
)
