"""bench/read_api: the cached observations page against a bare app serving the same bytes."""
