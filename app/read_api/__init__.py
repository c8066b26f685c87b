"""The read API for downstream apps: pages of the catalog and observations, cached in Redis."""
