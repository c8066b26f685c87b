"""Health and SLA of the external data providers (GET /v1/admin/external/health, /sla)."""
