"""Local stand-ins for Discord and the upstream, for tests and `atelier demo`."""
