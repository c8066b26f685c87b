"""Health, readiness, SLA and metric definitions."""
