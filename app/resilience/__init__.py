"""The one guarded HTTP client every provider call goes through: outbound rate limiter,
quotas, cost, circuit breaker, timeout and retries, with state shared by replicas in Redis."""
