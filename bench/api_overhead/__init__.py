"""Throughput and latency of the real app's request path against a bare FastAPI app serving
the same JSON, measured side by side in one run. Run `python -m bench.api_overhead`."""
