"""Persistence: SQLModel tables, the async engine, the unit of work and repositories."""
