"""`python -m bench.limiter_accuracy`: does the shared outbound limiter hold a provider's limit
across processes? See bench/limiter_accuracy/README.md."""
