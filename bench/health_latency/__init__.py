"""p50/p99 of GET /v1/admin/external/health on the real app against a bare endpoint."""
