"""The voice agent: one session per answered call (providers, tools, workers)."""
