"""All queries live here; services call these with the unit of work's session."""
