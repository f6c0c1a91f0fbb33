"""Running an eval: the work plan (everything checked before any model is called), the runner,
the response cache, adaptive rate limits, the run folder and progress."""
