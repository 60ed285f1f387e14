"""Call recording: a stereo Ogg Opus file per recorded call (caller left, agent right)."""
