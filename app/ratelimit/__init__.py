"""Inbound rate limiting: per-endpoint limits keyed by principal (else client IP), counted in
Redis shared by all replicas, with a per-process fallback while Redis is unreachable."""
