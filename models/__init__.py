"""The domain: SQLModel tables and the operations on them. No chat library is imported here.

Importing this package registers every table on `SQLModel.metadata` (Alembic relies on it).
"""

from models import channels, linking, members, onboarding, org, persistence  # noqa: F401
