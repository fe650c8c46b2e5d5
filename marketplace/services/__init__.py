"""Writes of the marketplace. Views, tasks and other apps call these; nothing else writes."""
