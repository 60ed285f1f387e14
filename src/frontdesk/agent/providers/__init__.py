"""Speech, language and voice-activity providers for agent sessions (offline and cloud)."""
